"""The gateway's SSE watcher thread is restarted if it ever ends, and readiness says so meanwhile (issue 14)."""
from __future__ import annotations

from typing import Iterator

import pytest
from pymongo import MongoClient

from services.common.schemas import GENERATION_STARTED
from services.gateway.mongo import GatewayStore
from services.gateway.watcher import EventsWatcher
from tests.gateway.documents import insert_event, insert_generation
from tests.support.waiting import wait_for


class FailingOnce(EventsWatcher):
    """A watcher whose first poll raises ``failure``."""

    failure: type[BaseException] | None = None

    def poll(self, generation_ids: list[str]) -> set[str]:
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure("injected")
        return super().poll(generation_ids)


@pytest.fixture
def store(mongo_uri: str, mongo_db_name: str) -> Iterator[GatewayStore]:
    client = MongoClient(mongo_uri)
    yield GatewayStore(client, mongo_db_name)
    client.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the injected end
def test_a_watcher_whose_thread_ended_is_not_running_and_the_next_watch_restarts_it(store, mongo_db):
    watcher = FailingOnce(lambda: store.read_model, 0.05)
    watcher.failure = SystemExit  # ends the thread (an Exception would be logged and survived)
    try:
        first = watcher.watch(insert_generation(mongo_db))
        wait_for(lambda: not watcher.running, timeout=5, message="readiness false while the thread is gone")
        generation_id = insert_generation(mongo_db)
        watch = watcher.watch(generation_id)
        assert watcher.running
        insert_event(mongo_db, generation_id, GENERATION_STARTED, {"backend": "assistants", "model": "m"})
        assert watch.wait(5.0)
        first.close()
    finally:
        watcher.stop()
