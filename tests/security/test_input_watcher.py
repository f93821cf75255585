"""The gateway's SSE watcher's subscriber thread is restarted if it ever ends, and readiness says so
meanwhile (issue 14): the watcher is woken by the store's events.recorded (services/gateway/live.py)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

import pytest

from services.common.events import new_event
from services.common.publisher import Publisher
from services.common.schemas import GENERATION_STARTED
from services.gateway.live import LiveEvents
from services.gateway.watcher import EventsWatcher
from services.store.outcomes import recorded_events
from tests.support.waiting import wait_for


def _announce(publisher: Publisher, generation_id: str) -> None:
    event = new_event(GENERATION_STARTED, "runner", {"generation_id": generation_id, "backend": "assistants",
                                                     "model": "m"})
    publisher.publish(recorded_events([event], datetime.now(timezone.utc)), timeout=10, allow_unroutable=True)


def _ending_once(url: str) -> Callable:
    """Subscribers whose first piece of news raises SystemExit: it ends the thread (an Exception would
    be logged and survived by a new session)."""
    pending = [SystemExit]

    def subscriber(on_news, on_connected) -> LiveEvents:
        def news(generation_id: str, since: datetime) -> None:
            if pending:
                raise pending.pop()("injected")
            on_news(generation_id, since)
        return LiveEvents(url, news, on_connected)
    return subscriber


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the injected end
def test_a_watcher_whose_thread_ended_is_not_running_and_the_next_watch_restarts_it(rabbitmq_url):
    watcher = EventsWatcher(_ending_once(rabbitmq_url), safety_seconds=60.0)
    publisher = Publisher(rabbitmq_url, name="test-store").start()
    try:
        first = watcher.watch("first")
        wait_for(lambda: watcher.live, timeout=10, message="the worker's events.recorded queue bound")
        _announce(publisher, "first")
        wait_for(lambda: not watcher.running, timeout=5, message="readiness false while the thread is gone")
        watch = watcher.watch("second")
        assert watcher.running
        wait_for(lambda: watcher.live, timeout=10, message="the restarted subscriber's queue bound")
        watch.wait(0.3)  # the connect's wake-up of every stream
        _announce(publisher, "second")
        assert watch.wait(5.0)
        first.close()
    finally:
        publisher.close()
        watcher.stop()
