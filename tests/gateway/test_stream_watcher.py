"""One poll per worker for all of its open event streams (services/gateway/watcher.py), on SecantusDB."""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Iterator

import pytest
from pymongo import MongoClient, monitoring

from services.common.schemas import GENERATION_STARTED, TOOLCALL_ADD_RECIPE
from services.gateway.mongo import GatewayStore
from services.gateway.watcher import EventsWatcher
from tests.gateway.documents import insert_event, insert_generation

POLL_SECONDS = 0.05
RECIPE = {"tool_call_id": "c1", "arguments": {"id": "soup", "name": "Soup", "description": "Hot."}}


class FindCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.finds = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.finds += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def counter() -> FindCounter:
    return FindCounter()


@pytest.fixture
def watcher(mongo_uri: str, mongo_db_name: str, counter: FindCounter) -> Iterator[EventsWatcher]:
    client = MongoClient(mongo_uri, event_listeners=[counter])
    store = GatewayStore(client, mongo_db_name)
    watcher = EventsWatcher(lambda: store, POLL_SECONDS)
    yield watcher
    watcher.stop()
    client.close()


def test_twenty_open_streams_cost_two_queries_per_tick_not_two_per_stream(watcher, counter, mongo_db):
    watches = [watcher.watch(insert_generation(mongo_db, status="running")) for _ in range(20)]
    started, finds_before = time.monotonic(), counter.finds
    time.sleep(1.0)
    ticks_at_most = (time.monotonic() - started) / POLL_SECONDS + 1
    finds = counter.finds - finds_before
    assert 0 < finds <= 2 * ticks_at_most  # events + finished statuses, for all twenty at once
    for watch in watches:
        watch.close()


def test_an_event_wakes_the_streams_of_its_generation_only(watcher, mongo_db):
    busy, quiet = insert_generation(mongo_db), insert_generation(mongo_db)
    busy_watches, quiet_watch = [watcher.watch(busy), watcher.watch(busy)], watcher.watch(quiet)
    time.sleep(3 * POLL_SECONDS)  # a first poll with nothing to report
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
    time.sleep(3 * POLL_SECONDS)
    for watch in watches:
        watch.close()
    assert watcher.watched == 0
    time.sleep(2 * POLL_SECONDS)  # a poll that had already started may finish
    finds = counter.finds
    time.sleep(10 * POLL_SECONDS)
    assert counter.finds == finds
