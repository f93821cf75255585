"""Waiting on background responses: ``model.response_finished`` events from this process's own queue.

The gateway turns OpenAI's signed webhooks into ``model.response_finished``
events. Every runner process binds an exclusive, auto-delete queue to them
(so every runner sees every event); the thread that waits on that response
id wakes up, the others' events are dropped. The events are hints, not work:
auto-ack, and a lost one (the queue exists only while this process is
connected) is covered by the caller's safety-net poll. After a reconnect,
every waiter is woken once, to re-read its response.

The subscription is services/common/hints.py (one thread owns its connection);
waiting threads only touch ``threading.Event``s under a lock.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from services.common import schemas, topology
from services.common.connection import MAX_WAIT
from services.common.hints import HintSubscriber, instance_name

log = logging.getLogger(__name__)
REMEMBERED = 10_000  # finished response ids kept for a waiter that registers after its webhook arrived


class ResponseWaiter:
    def __init__(self, url: str, *, instance: str | None = None, reconnect_delay: float = MAX_WAIT) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, threading.Event] = {}
        self._finished: OrderedDict[str, str] = OrderedDict()  # response id -> webhook type
        self._subscriber = HintSubscriber(
            url, queue=topology.model_events_queue_name(instance or instance_name()),
            binding=topology.MODEL_EVENTS_BINDING, event_type=schemas.MODEL_RESPONSE_FINISHED,
            on_hint=self._finished_response, on_connected=self._reconnected, what="model events",
            max_wait=reconnect_delay)  # the longest wait between reconnects

    @property
    def connected(self) -> bool:
        return self._subscriber.connected

    def start(self, wait: float = 10.0) -> "ResponseWaiter":
        if not self._subscriber.start(wait):
            log.warning("model events queue not bound yet; background responses rely on the safety poll")
        return self

    def stop(self) -> None:
        self._subscriber.stop(timeout=5)

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

    # -- the subscription's thread ----------------------------------------------------

    def _reconnected(self, again: bool) -> None:
        if again:  # events sent while we were away are lost: let every waiter re-read its response
            with self._lock:
                for event in self._waiting.values():
                    event.set()

    def _finished_response(self, data: Any) -> None:
        response_id = data["response_id"]
        kind = data.get("webhook_type", "")
        if not isinstance(response_id, str):
            raise TypeError("response_id is not a string")
        with self._lock:
            self._finished[response_id] = kind
            while len(self._finished) > REMEMBERED:
                self._finished.popitem(last=False)
            event = self._waiting.get(response_id)
        if event is not None:
            event.set()
