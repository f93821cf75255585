"""One event MongoDB refuses never takes its batch down: only it is dead-lettered, with the reason (issue 14,
item 8), by the real store process between the real RabbitMQ and SecantusDB."""
import dataclasses

from services.common import schemas, topology
from services.store.projection import project
from tests.store.streams import event, seed_stream
from tests.support.broker import get_all
from tests.support.waiting import wait_for


def _refused_by_mongodb():
    """A valid event whose data has a field name with a NUL in it: bson refuses to encode it (InvalidDocument)."""
    made = event(schemas.GENERATION_REQUESTED, {"generation_id": "gen-with-a-nul", "prompt": "soup",
                                                "instructions": None, "model": None}, 0)
    return dataclasses.replace(made, data={**made.data, "nul\x00here": 1})


def test_a_refused_event_is_dead_lettered_alone_and_the_rest_of_its_batch_applied(
        run_store, publish, mongo_db, rabbitmq_url):
    run_store(STORE_BATCH_SIZE="200", DELIVERY_LIMIT="2")
    good = [e for _ in range(3) for e in seed_stream()]  # 96 events
    bad = _refused_by_mongodb()
    publish(good[:50] + [bad] + good[50:])  # in the middle of one batch

    wait_for(lambda: mongo_db.generation_events.count_documents({}) == len(good), timeout=60, interval=0.3,
             message="every other event applied")
    dead = wait_for(lambda: get_all(rabbitmq_url, topology.STORE_EVENTS.dead_letter_queue), timeout=30,
                    message="the refused event dead-lettered")
    assert [properties.message_id for properties, _ in dead] == [bad.id]
    reason = dead[0][0].headers[topology.REJECTION_REASON_HEADER]
    assert "InvalidDocument" in reason and "NULL" in reason
    expected = project(good)
    gids = {e.data["generation_id"] for e in good}
    assert {d["_id"]: d for d in mongo_db.recipes.find({"generation_id": {"$in": list(gids)}})} == expected["recipes"]
    assert all(doc["status"] == "completed" for doc in mongo_db.generations.find({"_id": {"$in": list(gids)}}))
