"""A process's own subscription to hint events: an exclusive, auto-delete queue bound to one routing key.

The runner's waiter (``model.*``: OpenAI webhooks the gateway verified) and each gateway worker's
live views (``events.recorded``: the store made a batch durable) use one each. Hints, not work: they
are auto-acked, and the queue exists only while the process is connected, so what is published while
it is away is lost; after every reconnect ``on_connected(True)`` lets the owner re-read what it may
have missed (a safety read or poll covers the rest). One thread owns the BlockingConnection (pika
connections are not thread-safe); the connection layer (connection.py) reconnects with backoff
until the stop.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from typing import Any, Callable

from services.common import topology
from services.common.connection import MAX_WAIT, Nodes, reconnecting

log = logging.getLogger(__name__)


def instance_name() -> str:
    """A name no other process uses (host, pid, random): the queue's suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class HintSubscriber:
    """Hands the ``data`` of each event of ``event_type`` arriving on ``queue`` to ``on_hint``; an
    ``on_hint`` that raises ValueError, KeyError, TypeError or AttributeError found it unusable: dropped."""

    def __init__(self, url: str, *, queue: str, binding: str, event_type: str, on_hint: Callable[[Any], None],
                 on_connected: Callable[[bool], None] = lambda again: None, what: str,
                 max_wait: float = MAX_WAIT, **settings: object) -> None:
        self._nodes = Nodes(url, heartbeat=30, **settings)
        self.queue, self._binding, self._event_type, self._what = queue, binding, event_type, what
        self._on_hint, self._on_connected = on_hint, on_connected
        self._max_wait = max_wait
        self._sessions = 0
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def alive(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def start(self, wait: float = 0.0) -> bool:
        """Start the thread (again, if it died); with ``wait``, wait that long to be connected."""
        with self._lock:
            if not self._stopping.is_set() and (self._thread is None or not self._thread.is_alive()):
                if self._thread is not None:
                    log.error(f"{self._what}: subscriber was not running; restarting it")
                self._thread = threading.Thread(target=self._run, name=self._what, daemon=True)
                self._thread.start()
        return self._connected.wait(wait) if wait > 0 else self.connected

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        # Any error ends the session, a bug included (the owner would otherwise live on its slow
        # reads alone); the connection layer starts a new one after a backoff, until the stop.
        reconnecting(self._session, self._stopping, what=self._what, retry_on=Exception, max_wait=self._max_wait)

    def _session(self) -> None:
        again = self._sessions > 0
        self._sessions += 1
        connection = self._nodes.connect()
        try:
            channel = connection.channel()
            topology.declare_hint_queue(channel, self.queue, self._binding)
            channel.basic_consume(self.queue, self._on_message, auto_ack=True)
            self._connected.set()
            log.info(f"{self._what}: waiting for {self._binding}", extra={"queue": self.queue})
            self._on_connected(again)
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=0.5)
        finally:
            self._connected.clear()
            if connection.is_open:
                connection.close()

    def _on_message(self, _channel: object, _method: object, properties: Any, body: bytes) -> None:
        try:
            envelope = json.loads(body)
            if not isinstance(envelope, dict) or envelope.get("type") != self._event_type:
                return
            self._on_hint(envelope["data"])
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning(f"{self._what}: unusable {self._event_type} dropped",
                        extra={"message_id": getattr(properties, "message_id", None)})
