"""The runner's pure rules: requests, tool-call decisions, the run state machine, lifecycle events."""
import json

import pytest

from services.common import schemas
from services.common.events import decode, derived_event_id, encode, new_event
from services.runner import domain
from services.runner.domain import Complete, Fail, Submit, ToolCall, Wait

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _request(**data):
    event = new_event(schemas.GENERATION_REQUESTED, "test",
                      {"generation_id": "gen-1", "prompt": "lasagne", **data}, traceparent=TRACE)
    return domain.parse_request(decode(encode(event)))


def _call(call_id, tool, **arguments):
    return ToolCall(call_id, tool, json.dumps(arguments))


def test_a_request_carries_prompt_instructions_and_trace():
    request = _request(instructions="Say 'Yes chef!'")
    assert (request.generation_id, request.prompt, request.instructions, request.traceparent) == (
        "gen-1", "lasagne", "Say 'Yes chef!'", TRACE)


def test_an_event_of_another_type_is_not_a_request():
    event = new_event(schemas.GENERATION_FAILED, "test", {"generation_id": "g", "reason": "x"})
    with pytest.raises(domain.InvalidRequest):
        domain.parse_request(event)


def test_a_valid_call_becomes_its_toolcall_event_and_ok():
    call = _call("call_1", "addStep", id="lasagne", step_number=1, instructions="Boil.")
    batch = domain.decide_tool_calls(_request(), [call])
    [event] = batch.events
    assert event.type == schemas.TOOLCALL_ADD_STEP
    assert event.id == derived_event_id("gen-1", "call_1")
    assert event.subject == "gen-1" and event.traceparent == TRACE
    assert event.data == {"generation_id": "gen-1", "tool_call_id": "call_1",
                          "arguments": {"id": "lasagne", "step_number": 1, "instructions": "Boil."}, "position": 0}
    assert batch.outputs == ({"tool_call_id": "call_1", "output": "OK"},)
    assert (batch.accepted, batch.rejected) == (1, 0)


def test_each_event_carries_the_position_of_its_call_in_the_batch():
    calls = [_call(f"call_{n}", "addIngredient", id="lasagne", ingredient=f"item {n}", quantity="1")
             for n in range(3)]
    batch = domain.decide_tool_calls(_request(), calls)
    assert [event.data["position"] for event in batch.events] == [0, 1, 2]


def test_calls_decided_one_by_one_make_the_same_batch_as_decided_together():
    """What a streamed turn's end relies on when it reuses the calls decided as the stream handed them over."""
    calls = [_call("c1", "addRecipe", id="soup", name="Soup", description="Hot."), ToolCall("c2", "addStep", "{bad")]
    one_by_one = domain.batch_of([domain.decide_tool_call(_request(), call, n) for n, call in enumerate(calls)])
    together = domain.decide_tool_calls(_request(), calls)
    assert [(e.id, e.type, e.data) for e in one_by_one.events] == [(e.id, e.type, e.data) for e in together.events]
    assert (one_by_one.outputs, one_by_one.accepted, one_by_one.rejected) == (together.outputs, 1, 1)


def test_an_invalid_call_is_answered_with_the_error_and_only_a_rejection_is_emitted():
    call = _call("call_2", "addStep", id="lasagne", step_number="one", instructions="Boil.")
    batch = domain.decide_tool_calls(_request(), [call])
    [event] = batch.events
    assert event.type == schemas.TOOLCALL_REJECTED
    assert event.id == derived_event_id("gen-1", "call_2")
    [output] = batch.outputs
    assert output["tool_call_id"] == "call_2"
    assert output["output"].startswith("Error: invalid arguments for addStep") and "step_number" in output["output"]
    assert (batch.accepted, batch.rejected) == (0, 1)


def test_malformed_json_and_unknown_functions_are_rejected():
    calls = [ToolCall("c1", "addRecipe", "{not json"), ToolCall("c2", "deleteRecipe", "{}")]
    batch = domain.decide_tool_calls(_request(), calls)
    assert [e.type for e in batch.events] == [schemas.TOOLCALL_REJECTED] * 2
    assert "not valid JSON" in batch.outputs[0]["output"]
    assert "unknown function" in batch.outputs[1]["output"]


def test_a_batch_keeps_the_models_order_and_answers_every_call():
    calls = [_call(f"c{i}", "addIngredient", id="lasagne", ingredient=f"i{i}", quantity="1") for i in range(5)]
    batch = domain.decide_tool_calls(_request(), calls)
    assert [o["tool_call_id"] for o in batch.outputs] == [f"c{i}" for i in range(5)]
    assert [e.data["tool_call_id"] for e in batch.events] == [f"c{i}" for i in range(5)]


def test_replaying_a_batch_gives_the_same_event_ids():
    calls = [_call("c1", "addRecipe", id="soup", name="Soup", description="Hot.")]
    first = domain.decide_tool_calls(_request(), calls)
    second = domain.decide_tool_calls(_request(), calls)
    assert [e.id for e in first.events] == [e.id for e in second.events]


@pytest.mark.parametrize("status", ["queued", "in_progress", "cancelling", None, "something_new"])
def test_a_busy_or_unknown_run_is_waited_for(status):
    assert domain.next_action(status) == Wait()


def test_requires_action_submits_its_tool_calls():
    calls = (ToolCall("c1", "addRecipe", "{}"),)
    assert domain.next_action("requires_action", calls) == Submit(calls)


def test_a_completed_run_completes():
    assert domain.next_action("completed") == Complete()


@pytest.mark.parametrize("status", ["failed", "expired", "cancelled", "incomplete"])
def test_a_run_that_ends_otherwise_fails_with_its_reason(status):
    action = domain.next_action(status, error_message="boom", error_code="server_error")
    assert isinstance(action, Fail)
    assert "boom" in action.reason and action.code == "server_error"


def test_lifecycle_events_have_derived_ids_and_carry_the_trace():
    request = _request()
    started = domain.started_event(request, "assistants", "gpt-4", {"thread_id": "t", "run_id": "r"})
    completed = domain.completed_event(request, "Yes chef!", 29, 0)
    failed = domain.failed_event(request, "run failed: boom", "server_error")
    assert [started.id, completed.id, failed.id] == [
        derived_event_id("gen-1", part) for part in ("started", "completed", "failed")]
    assert {e.traceparent for e in (started, completed, failed)} == {TRACE}
    assert started.data["run_id"] == "r" and completed.data["tool_calls"] == 29
    assert failed.data == {"generation_id": "gen-1", "reason": "run failed: boom", "code": "server_error"}


def test_a_completed_response_with_function_calls_needs_their_outputs_and_without_them_completes():
    calls = (ToolCall("c1", "addRecipe", "{}"),)
    assert domain.next_response_action("completed", calls) == Submit(calls)
    assert domain.next_response_action("completed") == Complete()
    assert domain.next_response_action("in_progress") == Wait()
    failed = domain.next_response_action("incomplete", error_code=None, error_message="max_output_tokens")
    assert failed == Fail("response incomplete: max_output_tokens", "incomplete")
