"""The emulator as a real subprocess on a free port, and real openai SDK clients pointed at it."""
from __future__ import annotations

from typing import Callable, Iterator

import pytest
from openai import OpenAI

from tests.support.emulator import Emulator
from tests.support.mongo import free_port
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for


def launch(*args: str) -> Emulator:
    port = free_port()
    process = ServiceProcess("services.emulator", {}, ["--port", str(port), *args], name="emulator").start()
    emulator = Emulator(process, port)
    try:
        wait_for(lambda: emulator.healthy() or not process.running, timeout=30, message="emulator /healthz")
    except AssertionError:
        process.kill()
        raise
    if not process.running:
        raise RuntimeError(f"emulator exited:\n{process.log()[-3000:]}")
    return emulator


def serve(*args: str) -> Iterator[Emulator]:
    """An emulator for a module-scoped fixture: started with ``args``, stopped and its log removed after."""
    running = launch(*args)
    yield running
    running.stop()
    running.process.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """One emulator per test module, with default knobs (fault-free)."""
    yield from serve("--think-ms", "20", "--poll-after-ms", "10")


@pytest.fixture
def client(emulator: Emulator) -> OpenAI:
    return emulator.client()


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., Emulator]]:
    """Start an emulator of this test's own (for tests that set knobs)."""
    started: list[Emulator] = []

    def start(*args: str) -> Emulator:
        started.append(launch(*args))
        return started[-1]

    yield start
    for running in started:
        running.stop()
        running.process.log_path.unlink(missing_ok=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``beta.assistants.*`` warns "deprecated" attributed to the *calling* module (ours, not ``openai``), which the
    pyproject filter (module ``openai``) does not cover; ignore exactly that message for the emulator tests."""
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.filterwarnings(r"ignore:deprecated\Z:DeprecationWarning"))
