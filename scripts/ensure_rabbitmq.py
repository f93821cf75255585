"""Make sure the broker of RABBITMQ_URL answers; start a local one if it is installed and down."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

sys.path.insert(0, ".")
from services.common.config import ConfigError, load_settings


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    nodes = [urlsplit(url) for url in settings.rabbitmq_url.split(",")]  # validated: the nodes of one cluster
    if any(reachable(node.hostname or "127.0.0.1", node.port or 5672) for node in nodes):
        return 0
    host, port = nodes[0].hostname or "127.0.0.1", nodes[0].port or 5672
    local = len(nodes) == 1 and host in ("127.0.0.1", "localhost", "::1")  # a cluster is never started here
    if not (local and shutil.which("rabbitmq-server")):
        where = ", ".join(f"{node.hostname}:{node.port or 5672}" for node in nodes)
        print(
            f"RabbitMQ is not reachable at {where} (RABBITMQ_URL).\n"
            "Start one, e.g. `docker compose up -d rabbitmq`, or install Debian's rabbitmq-server,\n"
            "or point RABBITMQ_URL at a running broker.",
            file=sys.stderr,
        )
        return 1
    print(f"starting RabbitMQ (rabbitmq-server -detached) for {host}:{port} ...", file=sys.stderr)
    subprocess.run(["rabbitmq-server", "-detached"], check=False)
    deadline = time.monotonic() + 90
    # await_startup fails until the node registered with epmd: retry it.
    while time.monotonic() < deadline:
        done = subprocess.run(["rabbitmqctl", "await_startup"], capture_output=True)
        if done.returncode == 0 and reachable(host, port):
            print("RabbitMQ is up", file=sys.stderr)
            return 0
        time.sleep(1)
    print("RabbitMQ did not start within 90s; see /var/log/rabbitmq/", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
