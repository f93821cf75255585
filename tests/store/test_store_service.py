"""`python -m services.store` as a real process between the real RabbitMQ and SecantusDB."""
import json
import random
import subprocess
import sys
from urllib.parse import unquote, urlsplit

from services.common import schemas, topology
from services.store.projection import project
from tests.store.streams import seed_stream
from tests.support.broker import get_all, publish_raw, rabbitmqctl
from tests.support.processes import ROOT
from tests.support.waiting import wait_for


def _messages_in(url, queue) -> int:
    """Ready plus unacknowledged: 0 once the store acked (so durably applied) everything."""
    vhost = unquote(urlsplit(url).path[1:])
    listing = rabbitmqctl("list_queues", "-p", vhost, "--quiet", "--no-table-headers", "name", "messages").stdout
    return sum(int(count) for name, count in (line.split() for line in listing.splitlines()) if name == queue)


def _publish_and_settle(publish, rabbitmq_url, events):
    publish(events)
    wait_for(lambda: _messages_in(rabbitmq_url, topology.STORE_EVENTS.name) == 0, timeout=60, interval=0.3,
             message="the store to ack everything")


def test_the_seed_stream_once_twice_and_shuffled_gives_one_identical_recipe(
        run_store, publish, mongo_db, rabbitmq_url):
    run_store()
    stream = seed_stream()
    recipe_id = schemas.recipe_id_for(stream[0].data["generation_id"], "vegetarian_lasagne")
    expected = project(stream)["recipes"][recipe_id]

    _publish_and_settle(publish, rabbitmq_url, stream)
    once = mongo_db.recipes.find_one({"_id": recipe_id})
    _publish_and_settle(publish, rabbitmq_url, stream)
    twice = mongo_db.recipes.find_one({"_id": recipe_id})
    _publish_and_settle(publish, rabbitmq_url, random.Random(7).sample(stream, len(stream)))
    shuffled = mongo_db.recipes.find_one({"_id": recipe_id})

    assert once == twice == shuffled == expected
    assert (len(once["ingredients"]), [s["step_number"] for s in once["steps"]]) == (19, list(range(1, 10)))
    assert mongo_db.recipes.count_documents({"slug": "vegetarian_lasagne"}) == 1


def test_a_shuffled_stream_of_another_generation_gives_the_same_recipe_body(
        run_store, publish, mongo_db, rabbitmq_url):
    run_store()
    first, second = seed_stream(), seed_stream()
    _publish_and_settle(publish, rabbitmq_url, first + random.Random(3).sample(second, len(second)))
    a, b = (mongo_db.recipes.find_one({"generation_id": s[0].data["generation_id"]}) for s in (first, second))

    def body(r: dict) -> tuple:
        return (r["name"], r["description"], [(i["ingredient"], i["quantity"]) for i in r["ingredients"]],
                [(s["step_number"], s["instructions"]) for s in r["steps"]])

    assert a["_id"] != b["_id"] and body(a) == body(b)


def test_a_subscriber_to_recipe_events_sees_every_change(
        run_store, publish, mongo_db, rabbitmq_url, recipe_listener):
    run_store()
    stream = seed_stream()
    _publish_and_settle(publish, rabbitmq_url, stream)
    received = wait_for(lambda: len(recipe_listener.drain()) >= 30 and recipe_listener.received,
                        timeout=30, message="30 recipe events")
    types = [e.type for e in received]
    assert (types.count(schemas.RECIPE_CREATED), types.count(schemas.RECIPE_INGREDIENT_ADDED),
            types.count(schemas.RECIPE_STEP_ADDED), types.count(schemas.RECIPE_COMPLETED)) == (1, 19, 9, 1)
    [completed] = [e for e in received if e.type == schemas.RECIPE_COMPLETED]
    assert (completed.data["ingredient_count"], completed.data["step_count"]) == (19, 9)
    steps = [e.data["step_number"] for e in received if e.type == schemas.RECIPE_STEP_ADDED]
    assert sorted(steps) == list(range(1, 10))


def test_a_replayed_stream_republishes_only_the_same_event_ids(
        run_store, publish, mongo_db, rabbitmq_url, recipe_listener):
    run_store()
    stream = seed_stream()
    _publish_and_settle(publish, rabbitmq_url, stream)
    first = {e.id for e in wait_for(lambda: len(recipe_listener.drain()) >= 30 and recipe_listener.received)}
    _publish_and_settle(publish, rabbitmq_url, stream)
    wait_for(lambda: len(recipe_listener.drain()) >= 60, timeout=30, message="the replay's recipe events")
    assert {e.id for e in recipe_listener.received} == first


def test_poison_messages_are_dead_lettered_with_their_reason_and_later_events_applied(
        run_store, publish, mongo_db, rabbitmq_url):
    run_store()
    publish_raw(rabbitmq_url, "toolcall.add_step", b"\xff not json")
    publish_raw(rabbitmq_url, "generation.started", b'{"specversion": "1.0", "id": "x"}')
    publish_raw(rabbitmq_url, "toolcall.unknown", json.dumps({**seed_stream()[2].to_dict(),
                                                                "type": "toolcall.unknown"}).encode())
    bad_step = seed_stream()[-2].to_dict()
    bad_step.update(type="toolcall.add_step", id="bad-step")
    bad_step["data"]["arguments"]["step_number"] = 0
    publish_raw(rabbitmq_url, "toolcall.add_step", json.dumps(bad_step).encode())
    stream = seed_stream()
    _publish_and_settle(publish, rabbitmq_url, stream)

    dead = wait_for(lambda: get_all(rabbitmq_url, topology.STORE_EVENTS.dead_letter_queue) or None, timeout=30)
    reasons = [props.headers[topology.REJECTION_REASON_HEADER] for props, _ in dead]
    assert len(reasons) == 4
    assert "not JSON" in reasons[0] and "envelope" in reasons[1]
    assert "unknown event type 'toolcall.unknown'" in reasons[2] and "step_number" in reasons[3]
    recipe = mongo_db.recipes.find_one({"generation_id": stream[0].data["generation_id"]})
    assert (len(recipe["ingredients"]), len(recipe["steps"])) == (19, 9)


def test_a_generation_started_after_completed_does_not_reset_the_status(
        run_store, publish, mongo_db, rabbitmq_url):
    run_store()
    requested, started, *calls, completed = seed_stream()
    _publish_and_settle(publish, rabbitmq_url, [requested, *calls, completed, started])
    generation = mongo_db.generations.find_one({"_id": requested.data["generation_id"]})
    assert (generation["status"], generation["run_id"]) == ("completed", "run_1")


def test_bad_configuration_exits_2_with_a_message_naming_the_variable():
    result = subprocess.run([sys.executable, "-m", "services.store"], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "STORE_BATCH_SIZE": "0"}, timeout=60)
    assert result.returncode == 2
    assert "STORE_BATCH_SIZE" in result.stderr and "configuration error" in result.stderr


def test_sigterm_stops_the_store_cleanly_after_its_work_is_acked(run_store, publish, mongo_db, rabbitmq_url):
    store = run_store()
    _publish_and_settle(publish, rabbitmq_url, seed_stream())
    assert store.terminate(timeout=40) == 0
    assert "store stopped" in store.log()
