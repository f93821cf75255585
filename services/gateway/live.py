"""One gateway worker's subscription to ``events.recorded``: the store's news that events are durable.

The store announces, after each batch is durable, which generations it recorded events of
(services/store/outcomes.py ``recorded_events``). Each gateway worker binds its own exclusive,
auto-delete queue to them (services/common/topology.py), as each runner does for ``model.*``, and
hands each generation id, with the time its batch was recorded from, to ``on_news`` (the watcher
wakes that generation's open streams, which read MongoDB from then: the hint carries no event, so
order and content come from the source of truth).

The queue exists only while the worker is connected: what is announced while it is away is lost,
so after every (re)connect ``on_connected`` wakes every open stream once, to read what it missed.
While the broker is away the streams live on their own reads (watcher.py); the subscription
(services/common/hints.py) reconnects with the connection layer's backoff.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from services.common import schemas, topology
from services.common.hints import HintSubscriber, instance_name


class LiveEvents:
    def __init__(self, url: str, on_news: Callable[[str, datetime], None], on_connected: Callable[[], None], *,
                 instance: str | None = None) -> None:
        self._on_news = on_news
        self._subscriber = HintSubscriber(
            url, queue=topology.live_events_queue_name(instance or instance_name()),
            binding=topology.LIVE_EVENTS_BINDING, event_type=schemas.EVENTS_RECORDED, on_hint=self._hint,
            on_connected=lambda again: on_connected(), what="live events", socket_timeout=5)

    @property
    def connected(self) -> bool:
        return self._subscriber.connected

    @property
    def alive(self) -> bool:
        return self._subscriber.alive

    def start(self) -> None:
        """Start the thread (in the worker process: called on first use, after the fork); again if it died."""
        self._subscriber.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._subscriber.stop(timeout)

    def _hint(self, data: Any) -> None:
        generation_id = data["generation_id"]
        since = datetime.fromisoformat(data["recorded_since"].replace("Z", "+00:00"))
        if not isinstance(generation_id, str) or since.tzinfo is None:
            raise ValueError("not a generation id and an aware time")
        self._on_news(generation_id, since)
