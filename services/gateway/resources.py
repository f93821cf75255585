"""What a gateway worker's request handlers use, built by ``bootstrap`` (services/gateway/bootstrap.py).

Attached to the app as ``app.extensions["gateway"]``. Connections are opened
lazily in the process that uses them (gunicorn builds the app after the fork).
"""
from __future__ import annotations

import os
import threading
from typing import Callable

from flask import current_app

from services.common.config import Settings
from services.gateway.amqp import EventBus
from services.gateway.mongo import GatewayStore
from services.gateway.watcher import EventsWatcher


class ProcessStore:
    """One GatewayStore per process, opened on first use (and again in a forked child)."""

    def __init__(self, open_store: Callable[[], GatewayStore]) -> None:
        self._open_store = open_store
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._store: GatewayStore | None = None

    def get(self) -> GatewayStore:
        with self._lock:
            if self._store is None or self._pid != os.getpid():
                self._store, self._pid = self._open_store(), os.getpid()
                self._store.ensure_indexes()
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None and self._pid == os.getpid():
                self._store.close()
            self._store = None


class Resources:
    def __init__(self, settings: Settings, *, bus: EventBus, store: ProcessStore,
                 watcher: EventsWatcher, stream_slots: threading.BoundedSemaphore) -> None:
        self.settings = settings
        self.bus = bus
        self.watcher = watcher
        self.stream_slots = stream_slots  # per worker process: its open SSE streams
        self._store = store

    @property
    def store(self) -> GatewayStore:
        return self._store.get()

    def close(self) -> None:
        self.watcher.stop()
        self.bus.close()
        self._store.close()


def resources() -> Resources:
    return current_app.extensions["gateway"]
