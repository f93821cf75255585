"""Operator tools for dead-letter queues: look at what failed and why, and replay it.

A replayed message is re-published to the main exchange with its original
routing key and the same message id (consumers are idempotent), with a
publisher confirm, and only then removed from the dead-letter queue.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pika
from pika.adapters.blocking_connection import BlockingChannel

from services.common import topology
from services.common.connection import Nodes


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    routing_key: str
    reason: str
    body: bytes


def original_routing_key(properties: pika.BasicProperties, fallback: str) -> str:
    """The routing key the message had before it was dead-lettered."""
    headers = properties.headers or {}
    if headers.get("x-original-routing-key"):
        return str(headers["x-original-routing-key"])
    deaths = headers.get("x-death") or []
    if deaths and deaths[0].get("routing-keys"):
        return str(deaths[0]["routing-keys"][0])
    return fallback


def reason_of(properties: pika.BasicProperties) -> str:
    headers = properties.headers or {}
    return str(headers.get(topology.REJECTION_REASON_HEADER) or headers.get("x-first-death-reason") or "unknown")


def _open(url: str) -> tuple[pika.BlockingConnection, BlockingChannel]:
    connection = Nodes(url).connect()
    return connection, connection.channel()


def peek(url: str, queue: str, limit: int = 100) -> list[DeadLetter]:
    """Read up to ``limit`` dead letters without removing them (they are requeued)."""
    connection, channel = _open(url)
    try:
        letters = []
        for method, properties, body in _take(channel, topology.dead_letter_queue_name(queue), limit):
            letters.append(DeadLetter(properties.message_id, original_routing_key(properties, method.routing_key),
                                      reason_of(properties), body))
        return letters
    finally:
        connection.close()  # unacked messages go back to the dead-letter queue


def replay(url: str, queue: str, limit: int = 10_000) -> int:
    """Re-publish dead letters of ``queue`` to the main exchange (confirmed), then remove them."""
    connection, channel = _open(url)
    try:
        channel.confirm_delivery()
        replayed = 0
        for method, properties, body in _take(channel, topology.dead_letter_queue_name(queue), limit):
            routing_key = original_routing_key(properties, method.routing_key)
            # Drop the broker's and our dead-letter bookkeeping; keep application headers (traceparent).
            headers = {k: v for k, v in (properties.headers or {}).items() if not k.startswith("x-")}
            properties.headers = headers or None
            channel.basic_publish(topology.EXCHANGE, routing_key, body, properties, mandatory=True)
            channel.basic_ack(method.delivery_tag)
            replayed += 1
        return replayed
    finally:
        connection.close()


def _take(channel: BlockingChannel, queue: str, limit: int) -> Iterator[tuple]:
    for _ in range(limit):
        method, properties, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            return
        yield method, properties, body
