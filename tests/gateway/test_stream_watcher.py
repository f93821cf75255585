"""One poll per worker for all of its open event streams (services/gateway/watcher.py), on SecantusDB."""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Iterator

import pytest
from pymongo import MongoClient, monitoring

from services.common.schemas import GENERATION_STARTED, TOOLCALL_ADD_RECIPE
from services.gateway.mongo import GatewayStore
from services.gateway.watcher import EventsWatcher
from tests.gateway.documents import insert_event, insert_generation
from tests.support.waiting import wait_for

POLL_SECONDS = 0.05
RECIPE = {"tool_call_id": "c1", "arguments": {"id": "soup", "name": "Soup", "description": "Hot."}}


class FindCounter(monitoring.CommandListener):
    """The watcher's finds. A tick's last query is its find on ``generations`` (finished_generations)."""

    def __init__(self) -> None:
        self.finds = 0
        self.polls = 0  # ticks whose last query has answered
        self._lock = threading.Lock()
        self._open: dict[int, str] = {}  # request id -> collection, for finds not answered yet
        self._last = ""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            with self._lock:
                self.finds += 1
                self._open[event.request_id] = self._last = event.command["find"]

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._answered(event.request_id)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._answered(event.request_id)

    def _answered(self, request_id: int) -> None:
        with self._lock:
            if self._open.pop(request_id, None) == "generations":
                self.polls += 1

    def between_polls(self) -> bool:
        """No tick half done: nothing in flight and the last find was a tick's last."""
        with self._lock:
            return not self._open and self._last in ("", "generations")

    def wait_polls(self, count: int) -> None:
        target = self.polls + count
        wait_for(lambda: self.polls >= target, timeout=10, message=f"{count} polls")


@pytest.fixture
def counter() -> FindCounter:
    return FindCounter()


@pytest.fixture
def watcher(mongo_uri: str, mongo_db_name: str, counter: FindCounter) -> Iterator[EventsWatcher]:
    client = MongoClient(mongo_uri, event_listeners=[counter])
    store = GatewayStore(client, mongo_db_name)
    watcher = EventsWatcher(lambda: store.read_model, POLL_SECONDS)
    yield watcher
    watcher.stop()
    client.close()


def test_twenty_open_streams_cost_two_queries_per_tick_not_two_per_stream(watcher, counter, mongo_db):
    watches = [watcher.watch(insert_generation(mongo_db, status="running")) for _ in range(20)]
    started, finds_before = time.monotonic(), counter.finds
    counter.wait_polls(10)  # with two queries per stream, one tick would get here
    ticks_at_most = (time.monotonic() - started) / POLL_SECONDS + 1
    finds = counter.finds - finds_before
    assert 0 < finds <= 2 * ticks_at_most  # events + finished statuses, for all twenty at once
    for watch in watches:
        watch.close()


def test_an_event_wakes_the_streams_of_its_generation_only(watcher, counter, mongo_db):
    busy, quiet = insert_generation(mongo_db), insert_generation(mongo_db)
    busy_watches, quiet_watch = [watcher.watch(busy), watcher.watch(busy)], watcher.watch(quiet)
    counter.wait_polls(1)  # a first poll with nothing to report
    insert_event(mongo_db, busy, GENERATION_STARTED, {"backend": "assistants", "model": "m"})
    assert all(watch.wait(5.0) for watch in busy_watches)
    assert not quiet_watch.wait(10 * POLL_SECONDS)


def test_an_event_stamped_before_one_already_reported_still_wakes_its_stream(watcher, mongo_db):
    generation_id = insert_generation(mongo_db)
    watch = watcher.watch(generation_id)
    first = insert_event(mongo_db, generation_id, GENERATION_STARTED, {"backend": "assistants", "model": "m"})
    assert watch.wait(5.0)
    stamped_before = mongo_db.generation_events.find_one({"_id": first})["recorded_at"] - timedelta(milliseconds=500)
    insert_event(mongo_db, generation_id, TOOLCALL_ADD_RECIPE, RECIPE, call="c1", recorded_at=stamped_before)
    assert watch.wait(5.0)


def test_an_event_already_reported_does_not_wake_again(watcher, mongo_db):
    generation_id = insert_generation(mongo_db)
    watch = watcher.watch(generation_id)
    insert_event(mongo_db, generation_id, GENERATION_STARTED, {"backend": "assistants", "model": "m"})
    assert watch.wait(5.0)
    assert not watch.wait(10 * POLL_SECONDS)


def test_a_finished_generation_wakes_its_streams(watcher, mongo_db):
    generation_id = insert_generation(mongo_db)
    watch = watcher.watch(generation_id)
    assert not watch.wait(5 * POLL_SECONDS)
    mongo_db.generations.update_one({"_id": generation_id}, {"$set": {"status": "completed"}})
    assert watch.wait(5.0)


def test_closed_streams_are_no_longer_polled(watcher, counter, mongo_db):
    watches = [watcher.watch(insert_generation(mongo_db)) for _ in range(3)]
    counter.wait_polls(1)
    for watch in watches:
        watch.close()
    assert watcher.watched == 0
    wait_for(counter.between_polls, timeout=5, message="a poll that had already started to finish")
    finds = counter.finds
    time.sleep(10 * POLL_SECONDS)  # the behaviour under test: ten ticks with nothing to poll
    assert counter.finds == finds
