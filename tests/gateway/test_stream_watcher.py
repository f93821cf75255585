"""A worker's open event streams are woken by the store's events.recorded on the broker
(services/gateway/watcher.py, live.py), on the real RabbitMQ; they never poll MongoDB for news."""
from __future__ import annotations

import socket
from datetime import datetime, timezone
import time
from typing import Iterator

import pytest

from services.common.events import encode, new_event
from services.common.publisher import Publisher
from services.common.schemas import GENERATION_STARTED
from services.gateway.live import LiveEvents
from services.gateway.watcher import EventsWatcher
from services.store.outcomes import recorded_events
from tests.support.broker import close_connections, publish_raw
from tests.support.waiting import wait_for

SAFETY_SECONDS = 60.0  # far longer than any wait below: a wake-up here comes from the broker


def _watcher(url: str, away_seconds: float = 1.0) -> EventsWatcher:
    return EventsWatcher(lambda on_news, on_connected: LiveEvents(url, on_news, on_connected),
                         safety_seconds=SAFETY_SECONDS, away_seconds=away_seconds)


@pytest.fixture
def watcher(rabbitmq_url: str) -> Iterator[EventsWatcher]:
    watcher = _watcher(rabbitmq_url)
    yield watcher
    watcher.stop()


@pytest.fixture
def announce(rabbitmq_url: str) -> Iterator:
    """Publish the store's events.recorded for one event of ``generation_id``, as the store does."""
    publisher = Publisher(rabbitmq_url, name="test-store").start()

    def announce(generation_id: str, at: datetime | None = None) -> None:
        event = new_event(GENERATION_STARTED, "runner",
                          {"generation_id": generation_id, "backend": "assistants", "model": "m"})
        publisher.publish(recorded_events([event], at or datetime.now(timezone.utc)), timeout=10,
                          allow_unroutable=True)
    yield announce
    publisher.close()


def _live(watcher: EventsWatcher, generation_id: str = "first"):
    """A watch, once the worker's queue is bound (and the connect's wake-up of every stream consumed)."""
    watch = watcher.watch(generation_id)
    wait_for(lambda: watcher.live, timeout=10, message="the worker's events.recorded queue bound")
    watch.wait(0.3)
    return watch


def test_an_announcement_wakes_the_streams_of_its_generation_only(watcher, announce):
    busy_watches, quiet_watch = [_live(watcher, "busy"), watcher.watch("busy")], watcher.watch("quiet")
    for watch in (*busy_watches, quiet_watch):
        watch.wait(0.3)  # the connect's wake-up, if it came after the watch
    started = time.monotonic()
    announce("busy")
    assert all(watch.wait(5.0) for watch in busy_watches)
    assert time.monotonic() - started < 1.0  # pushed, not found by a read SAFETY_SECONDS later
    assert not quiet_watch.wait(0.5)


def test_a_wake_says_to_read_from_the_earliest_batch_announced_since_the_last_wake(watcher):
    watch = _live(watcher)
    late = datetime(2026, 1, 1, 12, 0, 5, tzinfo=timezone.utc)
    early = datetime(2026, 1, 1, 12, 0, 1, tzinfo=timezone.utc)
    watch.notify(late)
    watch.notify(early)  # a batch stamped earlier that became visible later (another store process)
    assert watch.wait(5.0) == early
    watch.notify(late)
    watch.notify()  # after a reconnect: anything may be new, read the whole look-back
    assert watch.wait(5.0) is True


def test_an_announcement_once_taken_does_not_wake_again(watcher, announce):
    watch = _live(watcher)
    announce("first")
    assert watch.wait(5.0)
    assert not watch.wait(0.5)


def test_a_message_that_is_not_an_announcement_is_dropped_and_the_next_one_still_wakes(
        watcher, announce, rabbitmq_url):
    watch = _live(watcher)
    publish_raw(rabbitmq_url, "events.recorded", b"{not json")
    publish_raw(rabbitmq_url, "events.recorded", encode(new_event(GENERATION_STARTED, "runner", {
        "generation_id": "first", "backend": "assistants", "model": "m"})))  # another type on that key
    assert not watch.wait(0.5)
    announce("first")
    assert watch.wait(5.0)


def test_after_the_broker_closed_the_connection_every_stream_is_woken_and_news_flows_again(
        watcher, announce, rabbitmq_url):
    watches = [_live(watcher, "a"), watcher.watch("b")]
    watches[1].wait(0.3)
    assert close_connections(rabbitmq_url) >= 1
    # Reconnected (after the connection layer's backoff): every stream is woken to read what was announced
    # meanwhile. Until then a wait ends after away_seconds without news (the stream reads on its own).
    for watch in watches:
        wait_for(lambda watch=watch: watch.wait(1.0), timeout=10, message="woken after the reconnect")
    wait_for(lambda: watcher.live, timeout=10, message="bound again")
    watches[0].wait(0.3)
    announce("a")
    assert watches[0].wait(5.0)


def test_without_a_broker_a_stream_waits_at_most_the_away_interval_and_the_subscriber_keeps_trying():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # nothing listens once the socket is closed
    watcher = _watcher(f"amqp://guest:guest@127.0.0.1:{closed_port}/%2F", away_seconds=0.2)
    try:
        watch = watcher.watch("first")
        started = time.monotonic()
        assert not watch.wait(SAFETY_SECONDS)
        assert time.monotonic() - started < 5.0  # the stream reads on its own meanwhile
        assert not watcher.live and watcher.running
    finally:
        watcher.stop()


def test_on_shutdown_a_waiting_stream_wakes_within_a_moment(watcher):
    watch = _live(watcher)
    started = time.monotonic()
    watcher.close_streams()
    watch.wait(SAFETY_SECONDS)
    assert time.monotonic() - started < 2.0
