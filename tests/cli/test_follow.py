"""`generate --follow` as a person sees it on a terminal (a live progress bar) and as a script reads it (`--json`)."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

from services.cli.__main__ import SEED_INSTRUCTIONS, SEED_PROMPT
from tests.support.processes import ROOT

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _cli(system, *args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", "--gateway", system.gateway_url, *args]


def _on_a_terminal(command: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run ``command`` with a pseudo-terminal (120 columns) as stdin, stdout and stderr; its exit code and screen
    output with the escape sequences removed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(command, cwd=ROOT, env={**env, "TERM": "xterm-256color"},
                               stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other side is closed, the command has exited
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return process.wait(timeout=10), ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


def test_on_a_terminal_a_progress_bar_follows_the_generation_and_keeps_its_final_counts(system):
    code, screen = _on_a_terminal(_cli(system, "generate", SEED_PROMPT, "--instructions", SEED_INSTRUCTIONS,
                                       "--follow"), system._env("cli"))
    assert code == 0, screen[-3000:]
    assert "completed: 1 recipe, 19 ingredients, 9 steps" in screen
    assert "━━━━━━━━━━" in screen  # the bar
    assert screen.count("+ ingredient") == 19 and screen.count("+ step") == 9  # each line once, above the bar
    assert "Vegetarian Lasagne\r\n==================" in screen


def test_json_output_is_one_json_document_per_line_for_generate_list_and_show(system):
    def run(*args: str) -> list[dict]:
        done = subprocess.run(_cli(system, *args), cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env=system._env("cli"))
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    *events, result = run("generate", SEED_PROMPT, "--instructions", SEED_INSTRUCTIONS, "--follow", "--json")
    steps = [e["data"]["arguments"]["step_number"] for e in events if e["type"] == "toolcall.add_step"]
    assert steps == list(range(1, 10))
    assert sum(e["type"] == "toolcall.add_ingredient" for e in events) == 19
    assert events[-1]["type"] == "generation.completed"
    assert result["generation"]["status"] == "completed"
    (recipe,) = result["recipes"]
    assert len(recipe["ingredients"]) == 19
    assert run("show", recipe["id"], "--json") == [recipe]
    (page,) = run("list", "--json")
    assert [item["id"] for item in page["items"]] == [recipe["id"]]
