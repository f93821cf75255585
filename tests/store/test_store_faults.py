"""Crashes: the database killed and restarted mid-stream, the store killed with SIGKILL mid-stream."""
import pytest
from pymongo import MongoClient

from services.common import topology
from services.store.projection import project
from tests.store.streams import many_generations
from tests.support.broker import queue_depth
from tests.support.mongo import EmbeddedMongo
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def _documents(db):
    return {"recipes": {d["_id"]: d for d in db.recipes.find()},
            "generations": {d["_id"]: d for d in db.generations.find()}}


def _logged(uri, db_name):
    with MongoClient(uri, serverSelectionTimeoutMS=5000, tz_aware=True) as client:
        return client[db_name].generation_events.count_documents({})


def test_a_database_restart_during_5000_events_loses_and_doubles_nothing(tmp_path, run_store, publish, rabbitmq_url):
    server = EmbeddedMongo(tmp_path / "db").start()
    try:
        db_name = "store_restart"
        run_store(MONGO_URI=server.uri, MONGO_DB=db_name)
        events = many_generations(157)  # 5,024 events
        publish(events)
        wait_for(lambda: _logged(server.uri, db_name) >= 1000, timeout=120, message="1,000 events applied")
        server.kill()
        server.start()
        assert _logged(server.uri, db_name) < len(events), "the stream was over before the database went down"
        wait_for(lambda: _logged(server.uri, db_name) == len(events), timeout=240, interval=0.5,
                 message="every event applied after the restart")
        with MongoClient(server.uri, tz_aware=True) as client:
            documents = _documents(client[db_name])
        assert documents == project(events)  # every recipe: 19 ingredients, 9 steps, none doubled
        assert all(len(r["ingredients"]) == 19 and len(r["steps"]) == 9 for r in documents["recipes"].values())
        assert queue_depth(rabbitmq_url, topology.STORE_EVENTS.dead_letter_queue) == 0  # no retry budget burnt
    finally:
        server.stop()


def test_a_store_killed_mid_stream_converges_to_the_same_documents(run_store, publish, mongo_db, mongo_uri,
                                                                   mongo_db_name):
    store = run_store()
    events = many_generations(60)  # 1,920 events
    publish(events)
    wait_for(lambda: mongo_db.generation_events.count_documents({}) >= 300, timeout=120, message="300 applied")
    store.kill()
    assert mongo_db.generation_events.count_documents({}) < len(events), "the stream was over before the kill"
    run_store()
    wait_for(lambda: mongo_db.generation_events.count_documents({}) == len(events), timeout=180, interval=0.5,
             message="every event applied after the restart")
    assert _documents(mongo_db) == project(events)
