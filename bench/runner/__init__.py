"""The runner's benches: ``python -m bench.runner`` (a real runner process) and ``python -m bench.runner.sdk``
(the backends alone, in-process). Both run against one emulator answering at once."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import requests

from tests.support.mongo import free_port
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


@contextmanager
def instant_emulator() -> Iterator[str]:
    """The emulator with no think time, healthy; yields its root URL and stops it afterwards."""
    port = free_port()
    emulator = ServiceProcess("services.emulator", {}, ("--port", str(port), "--think-ms", "0",
                                                        "--log-level", "WARNING")).start()
    root = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{root}/healthz"), timeout=60, message="the emulator")
        yield root
    finally:
        emulator.terminate(timeout=15)
