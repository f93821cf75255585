"""What the model gets wrong, and what the model API does wrong, does not reach the store as a tool call."""
import json

from services.common import schemas
from services.common.tools import check_tool_call
from tests.runner.helpers import SEED_PROMPT, arguments, as_json, by_type, distinct

TOOLS = {schemas.TOOLCALL_ADD_RECIPE: "addRecipe", schemas.TOOLCALL_ADD_INGREDIENT: "addIngredient",
         schemas.TOOLCALL_ADD_STEP: "addStep"}


def _assert_full_seed_recipe(events):
    groups = by_type(events)
    assert len(groups[schemas.TOOLCALL_ADD_RECIPE]) == 1
    assert len({as_json(a) for a in arguments(events, schemas.TOOLCALL_ADD_INGREDIENT)}) == 19
    assert sorted(a["step_number"] for a in arguments(events, schemas.TOOLCALL_ADD_STEP)) == list(range(1, 10))
    assert [e.type for e in groups[schemas.GENERATION_COMPLETED]] == [schemas.GENERATION_COMPLETED]


def _assert_every_toolcall_is_valid(events):
    for event in events:
        if event.type in TOOLS:
            assert check_tool_call(TOOLS[event.type], json.dumps(event.data["arguments"])).ok, event.data


def test_wrong_types_are_sent_back_to_the_model_and_only_the_corrected_calls_are_emitted(
        start_emulator, start_runner, pipeline):
    emulator = start_emulator("--faults", "wrong_types=1")
    start_runner(emulator)
    gid = pipeline.request(SEED_PROMPT)
    pipeline.wait_terminal(gid)
    events = distinct(pipeline.events(gid))
    rejected = by_type(events)[schemas.TOOLCALL_REJECTED]
    assert len(rejected) == 29  # every first attempt was wrong
    assert all(r.data["error"].startswith("Error: invalid arguments for ") for r in rejected)
    rejected_ids = {r.data["tool_call_id"] for r in rejected}
    accepted_ids = {e.data["tool_call_id"] for e in events if e.type in TOOLS}
    assert not rejected_ids & accepted_ids  # the corrected calls are new calls
    _assert_every_toolcall_is_valid(events)
    _assert_full_seed_recipe(events)
    completed = by_type(events)[schemas.GENERATION_COMPLETED][0]
    assert (completed.data["tool_calls"], completed.data["rejected_tool_calls"]) == (29, 29)


def test_malformed_json_and_unknown_functions_at_a_rate_still_give_the_full_recipe(
        start_emulator, start_runner, pipeline):
    emulator = start_emulator("--faults", "malformed_args=0.2,unknown_function=0.1", "--seed", "7")
    start_runner(emulator)
    gid = pipeline.request(SEED_PROMPT)
    pipeline.wait_terminal(gid)
    events = distinct(pipeline.events(gid))
    errors = [r.data["error"] for r in by_type(events)[schemas.TOOLCALL_REJECTED]]
    assert errors and all(e.startswith("Error:") for e in errors)
    _assert_every_toolcall_is_valid(events)
    _assert_full_seed_recipe(events)


def test_rate_limits_and_server_errors_are_retried_until_the_recipe_is_complete(
        start_emulator, start_runner, pipeline):
    emulator = start_emulator("--faults", "rate_limit=0.2,server_error=0.1", "--seed", "3")
    start_runner(emulator)
    gid = pipeline.request(SEED_PROMPT)
    pipeline.wait_terminal(gid, timeout=90)
    events = distinct(pipeline.events(gid))
    _assert_full_seed_recipe(events)
    faults = emulator.stats()["faults"]
    assert faults.get("rate_limit", 0) > 0 and faults.get("server_error", 0) > 0


def test_dropped_connections_are_retried_until_the_recipe_is_complete(start_emulator, start_runner, pipeline):
    emulator = start_emulator("--faults", "drop=0.1", "--seed", "5")
    start_runner(emulator)
    gid = pipeline.request(SEED_PROMPT)
    pipeline.wait_terminal(gid, timeout=90)
    _assert_full_seed_recipe(distinct(pipeline.events(gid)))
    assert emulator.stats()["faults"].get("drop", 0) > 0


def test_streams_cut_mid_turn_are_followed_by_polling_and_give_the_full_recipe_from_one_run(
        start_emulator, start_runner, pipeline):
    emulator = start_emulator("--faults", "stream_cut=1")  # every streamed turn breaks off after its opening
    start_runner(emulator)
    gid = pipeline.request(SEED_PROMPT)
    pipeline.wait_terminal(gid, timeout=90)
    _assert_full_seed_recipe(distinct(pipeline.events(gid)))
    assert emulator.requests_to("POST /v1/threads/<thread_id>/runs") == 1  # followed by polling, never re-run
    assert emulator.requests_to("GET /v1/threads/<thread_id>/runs/<run_id>") > 0
    assert emulator.stats()["faults"]["stream_cut"] >= 4  # the opening turn and every tool-output turn


def test_cut_response_streams_are_followed_by_polling_and_give_the_full_recipe(
        start_emulator, start_runner, pipeline):
    emulator = start_emulator("--faults", "stream_cut=1")
    start_runner(emulator, MODEL_BACKEND="responses")
    gid = pipeline.request(SEED_PROMPT)
    pipeline.wait_terminal(gid, timeout=90)
    _assert_full_seed_recipe(distinct(pipeline.events(gid)))
    assert emulator.requests_to("POST /v1/responses") == 4  # one per model turn: no turn was asked twice
    assert emulator.requests_to("GET /v1/responses/<response_id>") > 0
    assert emulator.stats()["faults"]["stream_cut"] == 4
