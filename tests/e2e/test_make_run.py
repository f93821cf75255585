"""`make run` (scripts/run.py): everything starts, the demo prints the seed's recipe, Ctrl-C stops every process."""
import os
import re
import signal
import subprocess
import sys
import time

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


def test_make_run_serves_the_demo_recipe_and_ctrl_c_stops_every_process(rabbitmq_url, tmp_path):
    ports = {"EMBEDDED_MONGO_PORT": free_port(), "EMULATOR_PORT": free_port(), "GATEWAY": free_port()}
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env.update(RABBITMQ_URL=rabbitmq_url, DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1",
               EMBEDDED_MONGO_PORT=str(ports["EMBEDDED_MONGO_PORT"]), EMULATOR_PORT=str(ports["EMULATOR_PORT"]),
               GATEWAY_BIND=f"127.0.0.1:{ports['GATEWAY']}")
    output = tmp_path / "run.log"
    with open(output, "wb") as log:
        run = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "The system keeps running" in output.read_text(errors="replace") or run.poll() is not None,
                 timeout=180, interval=0.5, message="the demo to finish")
        text = output.read_text(errors="replace")
        assert run.poll() is None, text[-3000:]
        assert "Ingredients (19)" in text and "Method (9 steps)" in text, text[-3000:]
        assert text.count("+ ingredient") == 19 and text.count("+ step") == 9
        for name in ("mongo", "emulator", "store", "runner", "gateway", "webhooks", "demo"):
            assert re.search(rf"system\s+\| {name} started \(pid=\d+\)", text), name  # under one process manager
            assert not re.search(rf"system\s+\| {name} stopped", text), name
        assert all(_listening(port) for port in ports.values())
        time.sleep(1)  # the system keeps serving: nothing exits by itself
        assert run.poll() is None
    finally:
        run.send_signal(signal.SIGINT)  # what Ctrl-C sends
        run.wait(60)
    assert wait_for(lambda: not any(_listening(port) for port in ports.values()), timeout=30,
                    message="every port closed")
    assert wait_for(lambda: not _processes_mentioning(str(tmp_path)) and
                    not _processes_mentioning(f"--port {ports['EMULATOR_PORT']}"),
                    timeout=30, message="no child process left")
