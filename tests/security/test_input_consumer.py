"""Hostile messages on the broker against the real store: a body nested 20,000 deep or holding a lone surrogate
is dead-lettered as poison with its reason, and the events after it are applied (issue 14)."""
import json

from services.common import topology
from tests.store.conftest import publish, run_store  # noqa: F401 - the real store, as there
from tests.store.streams import seed_stream
from tests.support.broker import get_all, publish_raw
from tests.support.waiting import wait_for


def test_deep_and_surrogate_messages_are_poison_with_their_reason(run_store, publish, mongo_db, rabbitmq_url):
    run_store()
    step = seed_stream()[-2].to_dict()
    deep = json.dumps({**step, "id": "deep"}).replace('"instructions": "', '"deep": ' + "[" * 20_000 + "]" * 20_000
                                                      + ', "instructions": "', 1)
    surrogate = json.dumps({**step, "id": "surrogate"}).replace('"instructions": "', '"instructions": "\\ud800', 1)
    publish_raw(rabbitmq_url, "toolcall.add_step", deep.encode())
    publish_raw(rabbitmq_url, "toolcall.add_step", surrogate.encode())
    stream = seed_stream()
    publish(stream)

    dead: list = []
    wait_for(lambda: dead.extend(get_all(rabbitmq_url, topology.STORE_EVENTS.dead_letter_queue)) or len(dead) >= 2,
             timeout=30, message="both poison messages dead-lettered")
    reasons = sorted(props.headers[topology.REJECTION_REASON_HEADER] for props, _ in dead)
    assert len(reasons) == 2
    assert "lone surrogate" in reasons[0] and "deeper than 64" in reasons[1]
    recipe = wait_for(lambda: mongo_db.recipes.find_one({"generation_id": stream[0].data["generation_id"],
                                                         "status": "complete"}), timeout=30)
    assert (len(recipe["ingredients"]), len(recipe["steps"])) == (19, 9)
