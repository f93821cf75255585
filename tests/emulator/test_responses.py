"""Responses API: the function-call loop with previous_response_id, streams, background mode, faults."""
from __future__ import annotations

import json
from typing import Any, Callable

import openai
import pytest
from openai import OpenAI

from services.common.tools import check_tool_call, responses_tools
from tests.support.emulator import Emulator
from tests.emulator.driver import SEED, SEED_INSTRUCTIONS, SEED_PROMPT, seed_ingredients, seed_steps
from tests.support.waiting import wait_for

MODEL = "gpt-4.1"


def _answer(item: Any) -> str:
    verdict = check_tool_call(item.name, item.arguments)
    return "OK" if verdict.ok else verdict.error


def _loop(client: OpenAI, first: Any, **options: Any) -> tuple[list[tuple[str, str]], Any]:
    """Answer function calls with previous_response_id until the model sends a message."""
    calls, response = [], first
    while any(item.type == "function_call" for item in response.output):
        items = [item for item in response.output if item.type == "function_call"]
        calls += [(item.name, item.arguments) for item in items]
        response = client.responses.create(
            model=MODEL, previous_response_id=response.id, tools=responses_tools(), **options,
            input=[{"type": "function_call_output", "call_id": item.call_id, "output": _answer(item)}
                   for item in items])
    return calls, response


def _accepted(calls: list[tuple[str, str]], name: str) -> list[dict[str, Any]]:
    return [json.loads(args) for called, args in calls if called == name and check_tool_call(name, args).ok]


def test_function_call_loop_reaches_the_seed_recipe(client: OpenAI) -> None:
    first = client.responses.create(model=MODEL, input=SEED_PROMPT, instructions=SEED_INSTRUCTIONS,
                                    tools=responses_tools())

    calls, final = _loop(client, first)

    assert [name for name, _ in calls[:2]] == ["addRecipe", "addIngredient"]
    assert _accepted(calls, "addRecipe") == [SEED["recipe"]]
    assert _accepted(calls, "addIngredient") == seed_ingredients()
    assert _accepted(calls, "addStep") == seed_steps()
    assert final.status == "completed" and final.output_text == SEED["final_message"]
    assert all(item.call_id.startswith("call_") and item.id.startswith("fc_") for item in first.output)


def test_content_faults_are_corrected_in_the_next_response(client: OpenAI) -> None:
    first = client.responses.create(model=MODEL, input=SEED_PROMPT, tools=responses_tools(),
                                    extra_headers={"X-Emulator-Faults": "wrong_types=1"})

    calls, final = _loop(client, first)

    assert final.status == "completed"
    assert not check_tool_call(*calls[0]).ok
    assert _accepted(calls, "addStep") == seed_steps()


def test_stream_helper_accepts_the_event_order(client: OpenAI) -> None:
    with client.responses.stream(model=MODEL, input=SEED_PROMPT, tools=responses_tools()) as stream:
        events = list(stream)
        final = stream.get_final_response()

    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert [item.name for item in final.output] == ["addRecipe"]
    assert json.loads(final.output[0].arguments) == SEED["recipe"]


def test_streamed_message_builds_the_output_text(client: OpenAI) -> None:
    first = client.responses.create(model=MODEL, input=SEED_PROMPT, instructions=SEED_INSTRUCTIONS,
                                    tools=responses_tools())
    calls, last_calls = _loop_until_message_is_next(client, first)

    with client.responses.stream(model=MODEL, previous_response_id=last_calls.id, tools=responses_tools(),
                                 input=[{"type": "function_call_output", "call_id": c, "output": "OK"}
                                        for c in calls]) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()

    assert "".join(deltas) == final.output_text == SEED["final_message"]


def _loop_until_message_is_next(client: OpenAI, response: Any) -> tuple[list[str], Any]:
    while True:
        ids = [item.call_id for item in response.output]
        if [item.name for item in response.output][:1] == ["addStep"]:
            return ids, response
        response = client.responses.create(model=MODEL, previous_response_id=response.id, tools=responses_tools(),
                                           input=[{"type": "function_call_output", "call_id": c, "output": "OK"}
                                                  for c in ids])


def test_background_response_progresses_to_completed(client: OpenAI) -> None:
    created = client.responses.create(model=MODEL, input=SEED_PROMPT, tools=responses_tools(), background=True)

    final = wait_for(lambda: (r := client.responses.retrieve(created.id)).status == "completed" and r,
                     timeout=10, message="background response to complete")

    assert created.status == "queued" and created.background is True
    assert [item.name for item in final.output] == ["addRecipe"]


def test_background_response_can_be_resumed_as_a_stream(client: OpenAI) -> None:
    created = client.responses.create(model=MODEL, input=SEED_PROMPT, tools=responses_tools(), background=True)

    with client.responses.stream(response_id=created.id, starting_after=1) as stream:
        events = list(stream)

    assert events[0].sequence_number == 2
    assert events[-1].type == "response.completed"


def test_background_response_can_be_cancelled(start_emulator: Callable[..., Emulator]) -> None:
    client = start_emulator("--think-ms", "2000").client()
    created = client.responses.create(model=MODEL, input=SEED_PROMPT, background=True)

    cancelled = client.responses.cancel(created.id)

    assert cancelled.status == "cancelled"
    assert client.responses.retrieve(created.id).status == "cancelled"


def test_run_fail_fault_fails_the_response(client: OpenAI) -> None:
    response = client.responses.create(model=MODEL, input=SEED_PROMPT,
                                       extra_headers={"X-Emulator-Faults": "run_fail=1"})

    assert response.status == "failed" and response.error.code == "server_error"


def test_unknown_previous_response_is_a_bad_request(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, previous_response_id="resp_missing",
                                input=[{"type": "function_call_output", "call_id": "call_x", "output": "OK"}])

    assert caught.value.param == "previous_response_id"


def test_unknown_response_is_not_found(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_missing")


def test_a_failed_turn_can_be_retried_from_the_same_previous_response(client: OpenAI) -> None:
    first = client.responses.create(model=MODEL, input=SEED_PROMPT, tools=responses_tools())
    answers = [{"type": "function_call_output", "call_id": item.call_id, "output": "OK"} for item in first.output]

    failed = client.responses.create(model=MODEL, previous_response_id=first.id, input=answers,
                                     extra_headers={"X-Emulator-Faults": "run_fail=1"})
    retried = client.responses.create(model=MODEL, previous_response_id=first.id, input=answers)

    assert failed.status == "failed"
    assert [json.loads(item.arguments) for item in retried.output] == seed_ingredients()
