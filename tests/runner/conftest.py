"""Fixtures for the runner: the emulator as a real subprocess on a free port, and the runner itself."""
from __future__ import annotations

from typing import Callable, Iterator

import pytest

from tests.runner.helpers import DELIVERY_LIMIT, Pipeline
from tests.support.emulator import Emulator
from tests.support.mongo import free_port
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for


@pytest.fixture
def start_emulator(start_service) -> Callable[..., Emulator]:
    """Start ``python -m services.emulator --port N <args>``; it is killed after the test."""

    def start(*args: str) -> Emulator:
        port = free_port()
        process = start_service("services.emulator", {}, "--port", str(port), *args, name="emulator")
        emulator = Emulator(process, port)
        wait_for(emulator.healthy, timeout=30, interval=0.1, message="the emulator to answer /healthz")
        return emulator

    return start


@pytest.fixture
def pipeline(rabbitmq_url: str) -> Iterator[Pipeline]:
    """The test's vhost with the runner's queue and the store's queue declared: requests in, events out."""
    with Pipeline(rabbitmq_url) as pipe:
        yield pipe


@pytest.fixture
def start_runner(start_service, service_env) -> Callable[..., ServiceProcess]:
    """Start ``python -m services.runner`` against an emulator; extra env overrides the defaults."""

    def start(emulator: Emulator, *args: str, **env: str) -> ServiceProcess:
        full = {**service_env, "OPENAI_BASE_URL": emulator.base_url, "OPENAI_API_KEY": "",
                "DELIVERY_LIMIT": str(DELIVERY_LIMIT), "RUNNER_CONCURRENCY": "20", **env}
        return start_service("services.runner", full, *args, name="runner")

    return start
