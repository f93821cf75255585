"""Fixtures for running the store as a real process against this test's vhost and database."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Callable, Iterator, Sequence

import pika
import pytest

from services.common import topology
from services.common.events import CloudEvent, decode
from services.common.publisher import Publisher
from tests.support.mongo import free_port
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return json.load(response)["status"] == "ready"
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def run_store(start_service, service_env) -> Callable[..., ServiceProcess]:
    """Start `python -m services.store` and wait until it is ready (consuming, MongoDB reachable)."""

    def run(**overrides: str) -> ServiceProcess:
        port = free_port()
        env = {**service_env, "PROBE_PORT": str(port), "STORE_BATCH_SIZE": "100", **overrides}
        process = start_service("services.store", env)
        process.probe_port = port
        wait_for(lambda: ready(port) or not process.running, timeout=60, message="store ready")
        assert process.running, process.log()[-3000:]
        return process

    return run


@pytest.fixture
def publish(rabbitmq_url) -> Iterator[Callable[[Sequence[CloudEvent]], None]]:
    """Publish events with confirms, as the runner does (the store's queue must exist)."""
    publisher = Publisher(rabbitmq_url, name="test-publisher").start()

    def send(events: Sequence[CloudEvent]) -> None:
        for start in range(0, len(events), 1000):
            publisher.publish(events[start:start + 1000], timeout=60)

    yield send
    publisher.close()


class RecipeListener:
    """A plain pika consumer of its own queue bound to `recipe.#`."""

    def __init__(self, url: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        topology.declare_exchanges(self.channel)
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, topology.EXCHANGE, routing_key="recipe.#")
        self.received: list[CloudEvent] = []

    def drain(self) -> list[CloudEvent]:
        while True:
            method, _properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return self.received
            self.received.append(decode(body))

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def recipe_listener(rabbitmq_url) -> Iterator[RecipeListener]:
    listener = RecipeListener(rabbitmq_url)
    yield listener
    listener.close()
