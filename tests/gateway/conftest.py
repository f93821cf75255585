"""Fixtures: the gateway as a real gunicorn process on a free port, wired to this test's vhost and database."""
from __future__ import annotations

from typing import Callable, Iterator

import pika
import pytest

from services.common import topology
from services.common.publisher import Publisher
from tests.gateway.client import GatewayClient
from tests.support.mongo import free_port
from tests.support.waiting import wait_for


@pytest.fixture
def gateway_env(service_env: dict[str, str], tmp_path) -> dict[str, str]:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    return {
        **service_env,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),  # killed gateways cannot clean up their own
        "GATEWAY_BIND": f"127.0.0.1:{free_port()}",
        "GATEWAY_WORKERS": "2",
        "GATEWAY_CONNECTIONS": "16",
        "GATEWAY_PUBLISH_TIMEOUT": "2",
        # These tests write generation_events themselves (no store announces them on the broker):
        # the streams find them by their safety read.
        "GATEWAY_SSE_SAFETY_READ_SECONDS": "0.05",
        "GATEWAY_SSE_MAX_SECONDS": "20",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "WEBHOOK_ALLOW_HTTP": "true",  # the test receivers are plain http on 127.0.0.1
        "WEBHOOK_GIVE_UP_SECONDS": "20",
        "WEBHOOK_MAX_BACKOFF_SECONDS": "0.5",
        "WEBHOOK_TIMEOUT_SECONDS": "2",
    }


@pytest.fixture
def launch_gateway(start_service, gateway_env) -> Iterator[Callable[..., GatewayClient]]:
    """Start a gateway (optionally with extra environment) and return a client once it answers."""
    clients: list[GatewayClient] = []

    def launch(api_key: str | None = None, **extra_env: str) -> GatewayClient:
        env = {**gateway_env, **extra_env}
        process = start_service("services.gateway", env, name="gateway")
        client = GatewayClient(f"http://{env['GATEWAY_BIND']}", api_key=api_key)
        clients.append(client)
        wait_for(lambda: client.is_up() or not process.running, timeout=30, message="gateway up")
        assert process.running, process.log()
        return client

    yield launch
    for client in clients:
        client.close()


@pytest.fixture
def gateway(launch_gateway) -> GatewayClient:
    return launch_gateway()


@pytest.fixture
def deliverer(start_service, gateway_env):
    return start_service("services.gateway", gateway_env, "deliver", name="deliverer")


@pytest.fixture
def publish(rabbitmq_url):
    """Publish events to the recipe exchange as the store would (the deliverer's queue declared first)."""
    declare(rabbitmq_url, topology.GATEWAY_WEBHOOKS)
    publisher = Publisher(rabbitmq_url, name="test-store").start()
    yield lambda events: publisher.publish(events, timeout=20)
    publisher.close()


def declare(url: str, *specs: topology.QueueSpec) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        topology.declare(connection.channel(), specs, delivery_limit=20)  # DELIVERY_LIMIT default
    finally:
        connection.close()
