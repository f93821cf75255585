"""Adapters a gateway process uses, created lazily in the process that uses them (after the fork).

Attached to the app as ``app.extensions["gateway"]``; tests and the bench wire
the same real adapters through ``create_app``.
"""
from __future__ import annotations

import os
import threading

from flask import current_app

from services.common.config import Settings
from services.common.mongo import connect
from services.gateway.amqp import EventBus
from services.gateway.mongo import GatewayStore
from services.gateway.options import GatewayOptions
from services.gateway.watcher import EventsWatcher


class Resources:
    def __init__(self, settings: Settings, options: GatewayOptions) -> None:
        self.settings = settings
        self.options = options
        self.bus = EventBus(settings.rabbitmq_url, settings.delivery_limit, settings.rabbitmq_quorum_group_size)
        # Per worker process (the app is built after the fork): open SSE streams.
        self.stream_slots = threading.BoundedSemaphore(options.sse_max_streams)
        # One poll per tick for all of them (not one per stream): wakes the streams that have news.
        self.watcher = EventsWatcher(lambda: self.store, options.sse_poll_seconds)
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._store: GatewayStore | None = None

    @property
    def store(self) -> GatewayStore:
        with self._lock:
            if self._store is None or self._pid != os.getpid():
                client = connect(self.settings.require_mongo_uri(), app_name="gateway")
                self._store, self._pid = GatewayStore(client, self.settings.mongo_db), os.getpid()
                self._store.ensure_indexes()
            return self._store

    def close(self) -> None:
        self.watcher.stop()
        self.bus.close()
        with self._lock:
            if self._store is not None and self._pid == os.getpid():
                self._store.close()
            self._store = None


def resources() -> Resources:
    return current_app.extensions["gateway"]
