"""The real RabbitMQ of this machine, isolated per test by a fresh vhost."""
from __future__ import annotations

import os
import subprocess
import time
import uuid
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import pika
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from services.common.topology import EXCHANGE

BASE_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def rabbitmqctl(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, check=check, timeout=timeout)


def url_for_vhost(vhost: str) -> str:
    parts = urlsplit(BASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, parts.fragment))


@contextmanager
def fresh_vhost(prefix: str = "test") -> Iterator[str]:
    """Create a vhost that only this test uses; yield its AMQP URL; delete it afterwards."""
    vhost = f"{prefix}-{uuid.uuid4().hex[:12]}"
    user = urlsplit(BASE_URL).username or "guest"
    # Another suite on this machine may have the broker stopped for a moment (the fault tests
    # do): wait for it and try again rather than fail this test's setup.
    for attempt in Retrying(stop=stop_after_delay(120), wait=wait_fixed(1), reraise=True,
                            retry=retry_if_exception_type((subprocess.CalledProcessError, pika.exceptions.AMQPError))):
        with attempt:
            wait_for_broker()
            rabbitmqctl("add_vhost", vhost, check=False)  # exists already when an earlier try got this far
            rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    try:
        yield url_for_vhost(vhost)
    finally:
        rabbitmqctl("delete_vhost", vhost, check=False)


def bind_outside_queue(url: str, name: str, routing_key: str) -> None:
    """An outside service's own durable queue on the event exchange, declared with plain pika."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
        channel.queue_declare(name, durable=True)
        channel.queue_bind(name, EXCHANGE, routing_key=routing_key)
    finally:
        connection.close()


def wait_for_broker(timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            pika.BlockingConnection(pika.URLParameters(BASE_URL)).close()
            return
        except pika.exceptions.AMQPConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@contextmanager
def broker_stopped() -> Iterator[None]:
    """Stop the RabbitMQ application (not the node) for the duration of the block."""
    rabbitmqctl("stop_app")
    try:
        yield
    finally:
        rabbitmqctl("start_app")
        wait_for_broker()


def get_all(url: str, queue: str, *, limit: int = 100_000) -> list[tuple[pika.spec.BasicProperties, bytes]]:
    """Take every message that is in ``queue`` now (acked), in order."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        messages = []
        while len(messages) < limit:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                break
            messages.append((properties, body))
        return messages
    finally:
        connection.close()


def queue_depth(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


def unsettled(url: str, queue: str) -> int:
    """Messages in ``queue`` not yet settled: ready plus delivered but not acked (``queue_depth`` is ready only)."""
    vhost = pika.URLParameters(url).virtual_host
    listing = rabbitmqctl("list_queues", "-p", vhost, "name", "messages", "--no-table-headers", "-q").stdout
    counts = {name: int(count) for name, count in (line.split("\t") for line in listing.splitlines() if line)}
    return counts[queue]


def close_connections(url: str, reason: str = "test: forced disconnect") -> int:
    """Force-close every client connection to the vhost of ``url`` (and only that vhost)."""
    vhost = pika.URLParameters(url).virtual_host
    listing = rabbitmqctl("list_connections", "pid", "vhost", "--no-table-headers", "-q").stdout
    pids = [line.split("\t")[0] for line in listing.splitlines() if line.split("\t")[-1:] == [vhost]]
    for pid in pids:
        rabbitmqctl("close_connection", pid, reason, check=False)
    return len(pids)


def publish_raw(url: str, routing_key: str, body: bytes, *, mandatory: bool = True) -> None:
    """Publish ``body`` as is (no envelope, no validation) to the exchange, confirmed: a hostile or broken message.

    ``mandatory`` (the default) raises when no queue is bound for ``routing_key``."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(EXCHANGE, routing_key, body,
                              pika.BasicProperties(message_id=str(uuid.uuid4()), delivery_mode=2), mandatory=mandatory)
    finally:
        connection.close()
