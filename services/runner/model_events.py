"""Waiting on background responses: ``model.response_finished`` events from this process's own queue.

The gateway turns OpenAI's signed webhooks into ``model.response_finished``
events. Every runner process binds an exclusive, auto-delete queue to them
(so every runner sees every event); the thread that waits on that response
id wakes up, the others' events are dropped. The events are hints, not work:
auto-ack, and a lost one (the queue exists only while this process is
connected) is covered by the caller's safety-net poll. After a reconnect,
every waiter is woken once, to re-read its response.

One thread owns the BlockingConnection (pika connections are not thread-safe);
waiting threads only touch ``threading.Event``s under a lock.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections import OrderedDict

import pika
import pika.exceptions

from services.common import schemas, topology
from services.common.connection import MAX_WAIT, Nodes, reconnecting

log = logging.getLogger(__name__)
REMEMBERED = 10_000  # finished response ids kept for a waiter that registers after its webhook arrived


class ResponseWaiter:
    def __init__(self, url: str, *, instance: str | None = None, reconnect_delay: float = MAX_WAIT) -> None:
        self._nodes = Nodes(url, heartbeat=30)
        self._reconnect_delay = reconnect_delay  # the longest wait between reconnects
        self._instance = instance or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._sessions = 0
        self._lock = threading.Lock()
        self._waiting: dict[str, threading.Event] = {}
        self._finished: OrderedDict[str, str] = OrderedDict()  # response id -> webhook type
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-events", daemon=True)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self, wait: float = 10.0) -> "ResponseWaiter":
        self._thread.start()
        if not self._connected.wait(wait):
            log.warning("model events queue not bound yet; background responses rely on the safety poll")
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def wait(self, response_id: str, timeout: float) -> bool:
        """Block until a finished-event for ``response_id`` arrives (True) or ``timeout`` passes (False)."""
        with self._lock:
            if response_id in self._finished:
                return True
            event = self._waiting.setdefault(response_id, threading.Event())
        try:
            return event.wait(timeout)
        finally:
            with self._lock:
                if self._waiting.get(response_id) is event:
                    del self._waiting[response_id]

    # -- the connection's thread ------------------------------------------------------

    def _run(self) -> None:
        # Any broker error ends the session (the events are hints: nothing is lost that the safety poll
        # does not cover); the connection layer reconnects with backoff until the stop.
        reconnecting(self._consume, self._stopping, what="model events", retry_on=pika.exceptions.AMQPError,
                     max_wait=self._reconnect_delay)

    def _consume(self) -> None:
        wake_all = self._sessions > 0
        self._sessions += 1
        connection = self._nodes.connect()
        try:
            channel = connection.channel()
            queue = topology.declare_model_events_queue(channel, self._instance)
            channel.basic_consume(queue, self._on_message, auto_ack=True)
            self._connected.set()
            log.info("waiting for model events", extra={"queue": queue})
            if wake_all:  # events sent while we were away are lost: let every waiter re-read its response
                with self._lock:
                    for event in self._waiting.values():
                        event.set()
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=0.5)
        finally:
            self._connected.clear()
            if connection.is_open:
                connection.close()

    def _on_message(self, _channel, _method, properties, body: bytes) -> None:
        try:
            envelope = json.loads(body)
            if envelope.get("type") != schemas.MODEL_RESPONSE_FINISHED:
                return
            response_id = envelope["data"]["response_id"]
            kind = envelope["data"].get("webhook_type", "")
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("unusable model event dropped", extra={"message_id": properties.message_id})
            return
        with self._lock:
            self._finished[response_id] = kind
            while len(self._finished) > REMEMBERED:
                self._finished.popitem(last=False)
            event = self._waiting.get(response_id)
        if event is not None:
            event.set()
