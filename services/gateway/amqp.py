"""The gateway's broker adapter: one confirmed Publisher per worker process, opened after the fork.

The first use in a process declares the whole topology (the exchanges and
every work queue, so accepted requests wait durably for a runner and a store
even when none has started yet) and starts the Publisher, whose I/O
thread reconnects by itself after a broker restart.
"""
from __future__ import annotations

import os
import threading
from typing import Sequence

import pika.exceptions

from services.common import connection as connection_layer
from services.common import topology
from services.common.connection import Nodes
from services.common.events import CloudEvent
from services.common.publisher import BrokerUnavailable, Publisher

DECLARED_QUEUES = topology.WORK_QUEUES


def declare_topology(url: str, delivery_limit: int, queues: Sequence[topology.QueueSpec] = DECLARED_QUEUES,
                     group_size: int | None = None) -> None:
    """Once per worker process, before its first publish: bounded (a request thread waits on it)."""
    connection = Nodes(url, socket_timeout=5, blocked_connection_timeout=5).connect()
    try:
        connection_layer.declare_topology(connection, queues, delivery_limit, group_size)
    finally:
        connection.close()


class EventBus:
    """Lazily started, per-process Publisher; safe to call from any request thread."""

    def __init__(self, url: str, delivery_limit: int, group_size: int | None = None) -> None:
        self._url = url
        self._delivery_limit = delivery_limit
        self._group_size = group_size
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._publisher: Publisher | None = None
        self._declared = False

    def _ensure(self) -> Publisher:
        with self._lock:
            if self._pid != os.getpid():  # first use in this (forked) process
                self._pid, self._publisher, self._declared = os.getpid(), None, False
            if not self._declared:
                try:
                    declare_topology(self._url, self._delivery_limit, group_size=self._group_size)
                except pika.exceptions.AMQPError as exc:
                    raise BrokerUnavailable(f"cannot declare the topology: {exc!r}") from None
                self._declared = True
            if self._publisher is None:
                self._publisher = Publisher(self._url, name=f"gateway-{os.getpid()}").start()
            return self._publisher

    def publish(self, events: Sequence[CloudEvent], timeout: float, allow_unroutable: bool = False) -> None:
        self._ensure().publish(events, timeout=timeout, allow_unroutable=allow_unroutable)

    def ready(self, timeout: float = 2.0) -> bool:
        try:
            return self._ensure().wait_connected(timeout)
        except BrokerUnavailable:
            return False

    def close(self) -> None:
        with self._lock:
            if self._publisher is not None and self._pid == os.getpid():
                self._publisher.close()
            self._publisher = None
