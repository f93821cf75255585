"""One gateway worker's subscription to ``events.recorded``: the store's news that events are durable.

The store announces, after each batch is durable, which generations it recorded events of
(services/store/outcomes.py ``recorded_events``). Each gateway worker binds its own exclusive,
auto-delete queue to them (services/common/topology.py), as each runner does for ``model.*``, and
hands each generation id, with the time its batch was recorded from, to ``on_news`` (the watcher
wakes that generation's open streams, which read MongoDB from then: the hint carries no event, so
order and content come from the source of truth).

The queue exists only while the worker is connected: what is announced while it is away is lost,
so after every (re)connect ``on_connected`` wakes every open stream once, to read what it missed.
While the broker is away the streams live on their own reads (watcher.py), and the subscriber
reconnects with capped exponential backoff. One thread owns the BlockingConnection (pika
connections are not thread-safe).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from datetime import datetime
from typing import Callable

import pika
import pika.exceptions

from services.common import amqp, schemas, topology

log = logging.getLogger(__name__)
FIRST_RETRY_SECONDS = 0.5
LONGEST_RETRY_SECONDS = 30.0


class LiveEvents:
    def __init__(self, url: str, on_news: Callable[[str, datetime], None], on_connected: Callable[[], None], *,
                 instance: str | None = None) -> None:
        self._parameters = amqp.connection_parameters(url, connection_attempts=1, heartbeat=30, socket_timeout=5)
        self._instance = instance or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._on_news, self._on_connected = on_news, on_connected
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

    def start(self) -> None:
        """Start the thread (in the worker process: called on first use, after the fork); again if it died."""
        with self._lock:
            if self._stopping.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            if self._thread is not None:
                log.error("live events subscriber was not running; restarting it")
            self._thread = threading.Thread(target=self._run, name="live-events", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        delay = FIRST_RETRY_SECONDS
        while not self._stopping.is_set():
            try:
                self._consume()
            except (pika.exceptions.AMQPError, OSError) as exc:
                log.warning("live events connection lost or refused; reconnecting",
                            extra={"error": repr(exc), "retry_in": delay})
            except Exception:  # a bug must not end the subscriber: streams would live on safety reads
                log.exception("live events subscriber failed; reconnecting")
            if self._connected.is_set():  # it was up: the first retry is quick again
                delay = FIRST_RETRY_SECONDS
            self._connected.clear()
            self._stopping.wait(delay)
            delay = min(delay * 2, LONGEST_RETRY_SECONDS)

    def _consume(self) -> None:
        connection = pika.BlockingConnection(amqp.shuffled(self._parameters))  # the first live node
        try:
            channel = connection.channel()
            queue = topology.declare_live_events_queue(channel, self._instance)
            channel.basic_consume(queue, self._on_message, auto_ack=True)
            self._connected.set()
            log.info("waiting for recorded events", extra={"queue": queue})
            self._on_connected()  # what was announced before the queue was bound is read now
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=0.5)
        finally:
            if connection.is_open:
                connection.close()

    def _on_message(self, _channel, _method, properties, body: bytes) -> None:
        try:
            envelope = json.loads(body)
            if envelope.get("type") != schemas.EVENTS_RECORDED:
                return
            generation_id = envelope["data"]["generation_id"]
            since = datetime.fromisoformat(envelope["data"]["recorded_since"].replace("Z", "+00:00"))
            if not isinstance(generation_id, str) or since.tzinfo is None:
                raise ValueError("not a generation id and an aware time")
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("unusable events.recorded dropped", extra={"message_id": properties.message_id})
            return
        self._on_news(generation_id, since)
