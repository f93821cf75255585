"""One MongoDB poll per gateway worker for all of its open event streams.

Each open SSE stream used to poll on its own every GATEWAY_SSE_POLL_SECONDS: its
events, and its generation's status when nothing was new, so n idle streams cost
2n queries per tick. Here one watcher thread per worker asks once per tick which
watched generations have events it has not reported yet, or have finished, and
wakes only their streams; a woken stream then reads its events itself, with all
its ordering rules (sse.py).

The watcher is a hint, never the only path: a stream also reads on its own every
``fallback_seconds``, so a missed hint (a store whose clock lags by more than the
look-back, a failed poll) delays an event, never loses it.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Callable

from pymongo.errors import PyMongoError

from services.gateway.mongo import ReadModel
from services.gateway.sse import LOOKBACK

log = logging.getLogger(__name__)


class Watch:
    """One stream's subscription: ``wait`` returns when its generation may have news, or at the timeout."""

    def __init__(self, watcher: "EventsWatcher", generation_id: str) -> None:
        self.generation_id = generation_id
        self._watcher = watcher
        self._news = threading.Event()

    def notify(self) -> None:
        self._news.set()

    def wait(self, timeout: float) -> bool:
        """True when woken by news (consumed), False at the timeout."""
        news = self._news.wait(max(timeout, 0.0))
        self._news.clear()
        return news

    def close(self) -> None:
        self._watcher.unwatch(self)


class EventsWatcher:
    def __init__(self, store: Callable[[], ReadModel], poll_seconds: float) -> None:
        self._store = store
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._watches: dict[str, set[Watch]] = {}
        self._reported: dict[str, datetime] = {}  # event id -> recorded_at, inside the look-back window
        self._since: datetime | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.closing = False  # the worker is shutting down: every stream ends at its next wake-up


    def watch(self, generation_id: str) -> Watch:
        watch = Watch(self, generation_id)
        with self._lock:
            self._watches.setdefault(generation_id, set()).add(watch)
            # Started on first use, so in the worker process (after the fork); started again if it ever died.
            if not self._stopped.is_set() and (self._thread is None or not self._thread.is_alive()):
                if self._thread is not None:
                    log.error("event stream watcher was not running; restarting it")
                self._thread = threading.Thread(target=self._run, name="sse-watcher", daemon=True)
                self._thread.start()
        return watch

    @property
    def running(self) -> bool:
        """False only when the watcher should poll (streams open, not stopped) but its thread is gone."""
        with self._lock:
            thread, watched = self._thread, bool(self._watches)
        return self._stopped.is_set() or not watched or (thread is not None and thread.is_alive())

    def unwatch(self, watch: Watch) -> None:
        with self._lock:
            watches = self._watches.get(watch.generation_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[watch.generation_id]

    @property
    def watched(self) -> int:
        with self._lock:
            return len(self._watches)

    def close_streams(self) -> None:
        """Ask every open stream to end soon (the worker is shutting down); safe in a signal handler:
        it only sets a flag, the watcher thread wakes the streams at its next tick."""
        self.closing = True

    def stop(self, timeout: float = 5.0) -> None:
        """No more polls (streams still open fall back to their own reads); waits for one in flight."""
        self._stopped.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stopped.wait(self._poll_seconds):
            try:
                self._tick()
            except Exception:  # a bug must not end the watcher (streams would fall back to 5 s)
                log.exception("event stream watcher tick failed")

    def _tick(self) -> None:
        """One poll for every watched generation; wakes the streams with news."""
        with self._lock:
            generation_ids = sorted(self._watches)
            if self.closing:
                for watches in self._watches.values():
                    for watch in watches:
                        watch.notify()
        if not generation_ids:
            return
        try:
            news = self.poll(generation_ids)
        except PyMongoError as exc:  # the streams' own fallback reads carry on meanwhile
            log.warning("event stream watcher poll failed", extra={"error": repr(exc)})
            return
        with self._lock:
            woken = [watch for generation_id in news for watch in self._watches.get(generation_id, ())]
        for watch in woken:
            watch.notify()

    def poll(self, generation_ids: list[str]) -> set[str]:
        """The generations among ``generation_ids`` with events not reported before, or finished."""
        store = self._store()
        news: set[str] = set()
        docs = store.recent_events(generation_ids, self._since)
        for doc in docs:
            if doc["_id"] not in self._reported:
                self._reported[doc["_id"]] = doc["recorded_at"]
                news.add(doc["generation_id"])
        if docs:  # the next poll starts LOOKBACK before the newest event seen, like a stream's own reads
            start = max(doc["recorded_at"] for doc in docs) - LOOKBACK
            if self._since is None or start > self._since:
                self._since = start
                self._reported = {event_id: at for event_id, at in self._reported.items() if at >= start}
        news.update(store.finished_generations(generation_ids))
        return news
