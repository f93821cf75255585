"""The user's CLI against the whole running system."""
import subprocess
import sys

from tests.support.processes import ROOT


def test_generate_follow_prints_each_tool_call_then_the_seed_recipe(system):
    from services.cli.__main__ import SEED_INSTRUCTIONS, SEED_PROMPT

    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "--gateway", system.gateway_url, "generate", SEED_PROMPT,
         "--instructions", SEED_INSTRUCTIONS, "--follow"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**system._env("cli")},
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("+ ingredient") == 19
    assert out.count("+ step") == 9
    assert "Vegetarian Lasagne\n==================" in out
    assert "Ingredients (19)" in out and "Method (9 steps)" in out
    assert "Yes chef!" in out
    assert "\x1b[" not in out  # piped: plain lines, no progress bar (tests/cli/test_follow.py has the terminal)
