"""The handler resumes from whatever runner_runs recorded (in-process: real SDK, emulator, RabbitMQ, SecantusDB)."""
import pytest
from pika.spec import BasicProperties

from services.common import schemas
from services.common.consumer import Delivery, Received
from services.common.events import encode, new_event
from services.common.publisher import Publisher
from services.runner.handlers import Deps, handle_generation_requested
from services.runner.backends.assistants import AssistantsModel
from services.runner.backends.sdk import make_client
from services.runner.mongo import RunStore
from tests.runner.helpers import SEED_PROMPT, distinct


@pytest.fixture
def emulator(start_emulator):
    return start_emulator()


@pytest.fixture
def model(emulator):
    model = AssistantsModel(make_client(None, emulator.base_url), "gpt-test")
    yield model
    model.close()


@pytest.fixture
def deps(model, mongo_db, pipeline):
    publisher = Publisher(pipeline.url, name="resume-test").start()
    yield Deps(model=model, runs=RunStore(mongo_db), publish=lambda events: publisher.publish(list(events), timeout=10))
    publisher.close()


def _delivery(gid):
    event = new_event(schemas.GENERATION_REQUESTED, "test", {"generation_id": gid, "prompt": SEED_PROMPT},
                      subject=gid, event_id=gid)
    return Received(event, Delivery(body=encode(event), properties=BasicProperties(message_id=gid),
                                    routing_key=schemas.GENERATION_REQUESTED, redelivered=True))


def _runs_of(emulator, thread_id):
    return emulator.get(f"/threads/{thread_id}/runs")["data"]


def test_a_recorded_thread_whose_message_was_sent_gets_no_second_message(model, deps, emulator, pipeline):
    thread_id = model.create_thread()
    model.add_message(thread_id, SEED_PROMPT)  # sent, but the crash came before it was recorded
    deps.runs.record("gen-a", thread_id=thread_id)
    handle_generation_requested(_delivery("gen-a"), deps)
    messages = emulator.get(f"/threads/{thread_id}/messages")["data"]
    assert [m["role"] for m in messages].count("user") == 1
    assert len(_runs_of(emulator, thread_id)) == 1
    assert distinct(pipeline.events("gen-a"))[-1].type == schemas.GENERATION_COMPLETED


def test_a_run_created_but_not_recorded_is_found_and_continued_not_duplicated(model, deps, emulator, pipeline):
    thread_id = model.create_thread()
    model.add_message(thread_id, SEED_PROMPT)
    existing = model.start_run(thread_id, instructions=None, model=None, metadata={}, on_created=lambda s: None)
    deps.runs.record("gen-b", thread_id=thread_id, message_added=True)  # run_id never recorded
    handle_generation_requested(_delivery("gen-b"), deps)
    assert [r["id"] for r in _runs_of(emulator, thread_id)] == [existing.id]
    events = distinct(pipeline.events("gen-b"))
    assert events[0].data["run_id"] == existing.id
    assert [e.type for e in events].count(schemas.TOOLCALL_ADD_INGREDIENT) == 19
    assert deps.runs.get("gen-b")["run_id"] == existing.id


def test_a_generation_recorded_as_finished_is_only_acknowledged(deps, emulator, pipeline):
    deps.runs.record("gen-c", thread_id="thread_gone", run_id="run_gone", status="completed")
    handle_generation_requested(_delivery("gen-c"), deps)
    assert pipeline.events("gen-c") == []
    assert emulator.stats()["objects"]["threads"] == 0
