"""`make run` (scripts/run.py): everything starts, the demo prints the seed's recipe, Ctrl-C stops every process."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.emulator import Emulator
from services.emulator.recipes import seed_recipe
from tests.support.mongo import free_port
from tests.support.processes import ROOT
from tests.support.waiting import wait_for


def _listening(port: int) -> bool:
    import socket
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _processes_mentioning(marker: str) -> list[str]:
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if marker in line and "ps -eo" not in line]


def _make_run(rabbitmq_url: str, tmp_path: Path, **extra_env: str) -> tuple[subprocess.Popen, Path, dict[str, int]]:
    ports = {"EMBEDDED_MONGO_PORT": free_port(), "EMULATOR_PORT": free_port(), "GATEWAY": free_port()}
    env = {k: v for k, v in os.environ.items()
           if k not in ("MONGO_URI", "OPENAI_API_KEY", "OPENAI_BASE_URL", "GATEWAY_API_KEYS", "GATEWAY_API_KEY")}
    env.update(RABBITMQ_URL=rabbitmq_url, DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1",
               EMBEDDED_MONGO_PORT=str(ports["EMBEDDED_MONGO_PORT"]), EMULATOR_PORT=str(ports["EMULATOR_PORT"]),
               GATEWAY_BIND=f"127.0.0.1:{ports['GATEWAY']}", **extra_env)
    output = tmp_path / "run.log"
    with open(output, "wb") as log:
        run = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    return run, output, ports


def _demo_finished(run: subprocess.Popen, output: Path, marker: str = "The system keeps running") -> str:
    wait_for(lambda: marker in output.read_text(errors="replace") or run.poll() is not None,
             timeout=180, interval=0.5, message="the demo to finish")
    text = output.read_text(errors="replace")
    assert run.poll() is None, text[-3000:]
    return text


def _ctrl_c(run: subprocess.Popen, ports: dict[str, int], tmp_path: Path) -> None:
    run.send_signal(signal.SIGINT)  # what Ctrl-C sends
    run.wait(60)
    assert wait_for(lambda: not any(_listening(port) for port in ports.values()), timeout=30,
                    message="every port closed")
    assert wait_for(lambda: not _processes_mentioning(str(tmp_path)) and
                    not _processes_mentioning(f"--port {ports['EMULATOR_PORT']}"),
                    timeout=30, message="no child process left")


def test_make_run_serves_the_demo_recipe_and_ctrl_c_stops_every_process(rabbitmq_url, tmp_path):
    run, output, ports = _make_run(rabbitmq_url, tmp_path)
    try:
        text = _demo_finished(run, output)
        page_url = f"http://127.0.0.1:{ports['GATEWAY']}/"
        assert text.splitlines()[0] == f"Recipe generator: open {page_url} in a browser"  # the URL first
        assert "Ask for a recipe" in requests.get(page_url, timeout=5).text
        assert "Ingredients (19)" in text and "Method (9 steps)" in text, text[-3000:]
        assert text.count("+ ingredient") == 19 and text.count("+ step") == 9
        live = re.findall(r"\+ ingredient  #\d+\s+(.+)$", text, re.MULTILINE)
        assert live == [f"{quantity} {name}" for name, quantity in seed_recipe().ingredients]  # the model's order
        assert re.findall(r"\+ step        #(\d+)", text) == [str(n) for n in range(1, 10)]
        for name in ("mongo", "emulator", "store", "runner", "gateway", "webhooks", "demo"):
            assert re.search(rf"system\s+\| {name} started \(pid=\d+\)", text), name  # under one process manager
            assert not re.search(rf"system\s+\| {name} stopped", text), name
        assert all(_listening(port) for port in ports.values())
        time.sleep(1)  # the system keeps serving: nothing exits by itself
        assert run.poll() is None
    finally:
        _ctrl_c(run, ports, tmp_path)


def test_with_api_keys_the_demo_uses_the_first_key(rabbitmq_url, tmp_path):
    run, output, ports = _make_run(rabbitmq_url, tmp_path, GATEWAY_API_KEYS="k1,k2")
    try:
        text = _demo_finished(run, output)
        assert "Method (9 steps)" in text and "error:" not in text, text[-3000:]
        listing = requests.get(f"http://127.0.0.1:{ports['GATEWAY']}/v1/recipes", timeout=5)
        assert listing.status_code == 401  # keys really are on: the demo got in with k1
    finally:
        _ctrl_c(run, ports, tmp_path)


def test_a_failing_demo_is_logged_and_the_services_keep_serving(rabbitmq_url, tmp_path):
    run, output, ports = _make_run(rabbitmq_url, tmp_path, GATEWAY_API_KEYS="k1", GATEWAY_API_KEY="not-a-key")
    try:
        text = _demo_finished(run, output, marker="the demo failed")
        assert re.search(r"demo\s+\| the demo failed \(exit status 1\); the services keep serving", text), text[-3000:]
        assert not re.search(r"system\s+\| \w+ stopped", text), text[-3000:]
        ready = requests.get(f"http://127.0.0.1:{ports['GATEWAY']}/readyz", timeout=5)
        assert ready.status_code == 200
        assert run.poll() is None
    finally:
        _ctrl_c(run, ports, tmp_path)


def test_with_a_key_for_a_platform_like_todays_openai_the_demo_gets_the_recipe_with_no_other_settings(
        rabbitmq_url, tmp_path, start_service):
    port = free_port()  # the emulator playing today's OpenAI: no Assistants API, retired models refused
    process = start_service("services.emulator", {}, "--port", str(port), "--strict-models",
                            "--assistants-shutdown", name="todays-openai")
    platform = Emulator(process, port)
    wait_for(platform.healthy, timeout=30, message="the stand-in for today's OpenAI")
    run, output, ports = _make_run(rabbitmq_url, tmp_path, OPENAI_API_KEY="sk-a-real-looking-key",
                                   OPENAI_BASE_URL=platform.base_url)
    try:
        text = _demo_finished(run, output)
        assert "Method (9 steps)" in text and text.count("+ ingredient") == 19, text[-3000:]
        assert "model run started (responses, gpt-6.1-sol)" in text  # the defaults: Responses, a live model
        assert not re.search(r"system\s+\| emulator started", text)  # a key given: make run starts none
    finally:
        _ctrl_c(run, ports, tmp_path)
