"""The seed prompt, end to end: RabbitMQ -> runner -> emulator (real SDK over HTTP) -> events."""
import json

from services.common import schemas
from services.common.events import derived_event_id
from services.common.tools import check_tool_call
from tests.runner.helpers import SEED_PROMPT, arguments, by_type, distinct


def test_the_seed_prompt_yields_started_recipe_ingredients_steps_completed_in_order(
        start_emulator, start_runner, pipeline):
    emulator = start_emulator()
    start_runner(emulator)
    gid = pipeline.request(SEED_PROMPT)
    pipeline.wait_terminal(gid)
    events = distinct(pipeline.events(gid))
    assert [e.type for e in events] == (
        [schemas.GENERATION_STARTED, schemas.TOOLCALL_ADD_RECIPE]
        + [schemas.TOOLCALL_ADD_INGREDIENT] * 19 + [schemas.TOOLCALL_ADD_STEP] * 9
        + [schemas.GENERATION_COMPLETED])
    [recipe] = arguments(events, schemas.TOOLCALL_ADD_RECIPE)
    assert recipe["id"] == "vegetarian_lasagne"
    steps = arguments(events, schemas.TOOLCALL_ADD_STEP)
    assert [s["step_number"] for s in steps] == list(range(1, 10))
    completed = events[-1]
    assert completed.data["tool_calls"] == 29 and completed.data["rejected_tool_calls"] == 0
    assert completed.data["message"]


def test_every_event_carries_the_generation_trace_and_a_derived_id(start_emulator, start_runner, pipeline):
    emulator = start_emulator()
    start_runner(emulator)
    gid = pipeline.request(SEED_PROMPT)
    pipeline.wait_terminal(gid)
    events = distinct(pipeline.events(gid))
    assert len({e.traceparent for e in events}) == 1 and events[0].traceparent
    ingredients = by_type(events)[schemas.TOOLCALL_ADD_INGREDIENT]
    assert ingredients  # the loop below checks nothing if the runner emitted no ingredient
    for event in ingredients:
        assert event.id == derived_event_id(gid, event.data["tool_call_id"])
        assert check_tool_call("addIngredient", json.dumps(event.data["arguments"])).ok
    started = by_type(events)[schemas.GENERATION_STARTED][0]
    assert started.id == derived_event_id(gid, "started")
    assert started.data["backend"] == "assistants"
    assert {"assistant_id", "thread_id", "run_id", "model"} <= set(started.data)
