"""A gateway worker's open event streams, woken by the broker (live.py), never by polling MongoDB.

Each open SSE stream holds a ``Watch`` on its generation. When the store announces that it
recorded events of that generation (``events.recorded``), the worker's subscriber calls
``notify`` and only that generation's streams wake up; a woken stream then reads its events
itself, with all its ordering rules (sse.py). After the subscriber (re)connects, every stream is
woken once, for what was announced while the worker was not listening.

The broker is a hint, never the only path: a stream also reads on its own every
``safety_seconds`` (a long interval), and every ``away_seconds`` while the subscriber is not
connected, so a lost hint delays an event, never loses it.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Callable, Protocol, Union

# A waiting stream looks up this often for a shutdown (``close_streams`` only sets a flag).
CLOSING_CHECK_SECONDS = 0.25


class Subscriber(Protocol):
    @property
    def connected(self) -> bool: ...

    @property
    def alive(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...


# Builds the subscriber given the watcher's callbacks: (on_news(generation_id, since), on_connected()).
SubscriberFactory = Callable[[Callable[[str, datetime], None], Callable[[], None]], Subscriber]


# What ``Watch.wait`` returns: False at the timeout; when woken, the earliest ``recorded_since`` of the
# announcements taken (the stream reads from there), or True when it should read its whole look-back.
Wake = Union[bool, datetime]


class Watch:
    """One stream's subscription: ``wait`` returns when its generation may have news, or at the timeout."""

    def __init__(self, watcher: "EventsWatcher", generation_id: str) -> None:
        self.generation_id = generation_id
        self._watcher = watcher
        self._news = threading.Event()
        self._lock = threading.Lock()
        self._since: Wake = False

    def notify(self, since: datetime | None = None) -> None:
        """News recorded at or after ``since`` (None: anything may be new)."""
        with self._lock:
            if since is None or self._since is True:
                self._since = True
            elif self._since is False or since < self._since:
                self._since = since
            self._news.set()

    def wait(self, timeout: float) -> Wake:
        """The news taken (see ``Wake``), or False at the timeout. Without the broker the timeout is
        at most ``away_seconds``: the stream's own reads carry it meanwhile."""
        if not self._watcher.live:
            timeout = min(timeout, self._watcher.away_seconds)
        end = time.monotonic() + max(timeout, 0.0)
        news = False
        while not news and not self._watcher.closing:
            left = end - time.monotonic()
            if left <= 0:
                break
            news = self._news.wait(min(left, CLOSING_CHECK_SECONDS))
        with self._lock:
            self._news.clear()
            taken, self._since = self._since, False
        return taken

    def close(self) -> None:
        self._watcher.unwatch(self)


class EventsWatcher:
    def __init__(self, subscriber: SubscriberFactory, *, safety_seconds: float, away_seconds: float = 1.0) -> None:
        self.safety_seconds = safety_seconds
        self.away_seconds = min(away_seconds, safety_seconds)
        self._lock = threading.Lock()
        self._watches: dict[str, set[Watch]] = {}
        self._subscriber = subscriber(self.notify, self.notify_all)
        self._stopped = False
        self.closing = False  # the worker is shutting down: every stream ends at its next wake-up

    def start(self) -> None:
        """Subscribe now (in the worker process, after the fork); ``watch`` also does, if not yet."""
        if not self._stopped:
            self._subscriber.start()

    def watch(self, generation_id: str) -> Watch:
        watch = Watch(self, generation_id)
        with self._lock:
            self._watches.setdefault(generation_id, set()).add(watch)
        if not self._stopped:
            # Started on first use, so in the worker process (after the fork); started again if it ever died.
            self._subscriber.start()
        return watch

    @property
    def live(self) -> bool:
        """Whether news arrives from the broker now (else the streams read every ``away_seconds``)."""
        return self._subscriber.connected

    @property
    def running(self) -> bool:
        """False only when the subscriber should run (streams open, not stopped) but its thread is gone."""
        with self._lock:
            watched = bool(self._watches)
        return self._stopped or not watched or self._subscriber.alive

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

    def notify(self, generation_id: str, since: datetime) -> None:
        """The store recorded events of this generation at or after ``since``: wake its streams."""
        with self._lock:
            woken = list(self._watches.get(generation_id, ()))
        for watch in woken:
            watch.notify(since)

    def notify_all(self) -> None:
        with self._lock:
            woken = [watch for watches in self._watches.values() for watch in watches]
        for watch in woken:
            watch.notify()

    def close_streams(self) -> None:
        """Ask every open stream to end soon (the worker is shutting down); safe in a signal handler:
        it only sets a flag, which waiting streams look at every CLOSING_CHECK_SECONDS."""
        self.closing = True

    def stop(self, timeout: float = 5.0) -> None:
        """No more news from the broker (streams still open fall back to their own reads)."""
        self._stopped = True
        self._subscriber.stop(timeout)
