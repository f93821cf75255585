"""A streamed turn's calls are handed to the publisher without waiting for each confirm; every one is
confirmed before the model hears "OK" (in-process: real SDK, emulator, RabbitMQ, SecantusDB).

An outside queue that holds one ingredient and refuses more makes the broker nack the rest of the
seed's burst of 19 ingredients while the stream is read on.
"""
from types import SimpleNamespace

import pika
import pytest

from services.common import schemas, topology
from services.common.publisher import Nacked, Publisher
from services.runner import domain
from services.runner.backends.responses import ResponsesModel
from services.runner.backends.sdk import make_client
from services.runner.handlers import Deps, GenerationSession
from services.runner.mongo import RunStore
from tests.runner.helpers import SEED_INSTRUCTIONS, SEED_PROMPT, distinct
from tests.support.broker import get_all
from tests.support.waiting import wait_for


def _queue(url, name, routing_key, **arguments):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(name, durable=True, arguments=arguments or None)
    channel.queue_bind(name, topology.EXCHANGE, routing_key=routing_key)
    connection.close()


def _delete(url, name):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    connection.channel().queue_delete(name)
    connection.close()


@pytest.fixture
def handed(start_emulator, mongo_db, pipeline):
    """A session over the real publisher; every publish handed over without waiting is kept here."""
    model = ResponsesModel(make_client(None, start_emulator().base_url), "gpt-test")
    publisher = Publisher(pipeline.url, name="pipelined-test").start()
    kept = []

    def publish_async(events):
        kept.append(publisher.publish_async(list(events), timeout=10))
        return kept[-1]

    deps = Deps(model=model, runs=RunStore(mongo_db), publish_async=publish_async,
                publish=lambda events: publisher.publish(list(events), timeout=10))
    request = domain.Request("gen-pipelined", SEED_PROMPT, SEED_INSTRUCTIONS, None, None)
    yield SimpleNamespace(session=GenerationSession(request, deps, {}), kept=kept, model=model, runs=deps.runs)
    publisher.close()
    model.close()


FULL = {"x-max-length": 1, "x-overflow": "reject-publish"}


def test_ingredients_the_broker_nacked_mid_turn_are_published_again_before_the_model_hears_ok(handed, pipeline):
    session, kept = handed.session, handed.kept
    recipe_turn = handed.model.open(session)  # addRecipe, handed over as the stream completed it
    _queue(pipeline.url, "full", schemas.TOOLCALL_ADD_INGREDIENT, **FULL)
    ingredients_turn = session.answer(recipe_turn, recipe_turn.tool_calls)
    assert len(ingredients_turn.tool_calls) == 19
    assert len(kept) == 20  # every call handed over while the stream was read; none waited on
    wait_for(lambda: all(p.answered for p in kept), message="the broker to answer every publish")
    burst = kept[1:]
    nacked = [p.events[0].data["position"] for p in burst if _refused(p)]
    assert nacked == list(range(1, 19))  # the queue held the first ingredient only
    _delete(pipeline.url, "full")  # room again
    _queue(pipeline.url, "again", schemas.TOOLCALL_ADD_INGREDIENT)  # sees only what is sent from now on

    steps_turn = session.answer(ingredients_turn, ingredients_turn.tool_calls)

    assert [c.name for c in steps_turn.tool_calls] == ["addStep"] * 9
    republished = [properties.message_id for properties, _ in get_all(pipeline.url, "again")]
    assert republished == [p.events[0].id for p in burst[1:]]  # the 18 nacked ones, in order, no more
    ingredients = [e for e in distinct(pipeline.events("gen-pipelined")) if e.type == schemas.TOOLCALL_ADD_INGREDIENT]
    assert sorted(e.data["position"] for e in ingredients) == list(range(19))


def test_a_turn_whose_events_the_broker_refuses_again_is_not_answered(handed, pipeline):
    session = handed.session
    recipe_turn = handed.model.open(session)
    _queue(pipeline.url, "full", schemas.TOOLCALL_ADD_INGREDIENT, **FULL)
    ingredients_turn = session.answer(recipe_turn, recipe_turn.tool_calls)
    with pytest.raises(Nacked):
        session.answer(ingredients_turn, ingredients_turn.tool_calls)  # the delivery fails, to be retried
    record = handed.runs.get("gen-pipelined")
    assert record["response_id"] == ingredients_turn.id  # the model was not answered: no next turn
    assert [b["key"] for b in record["batches"]] == [recipe_turn.tool_calls[0].id]  # the burst is not counted


def _refused(pending):
    try:
        pending.wait()
    except Nacked:
        return True
    return False
