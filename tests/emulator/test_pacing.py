"""--tokens-per-second: function-call arguments are streamed as deltas at the model's pace, and nothing is
reported complete (stream, poll or plain answer) before the model has written it."""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterator

import pytest
import requests
from openai import OpenAI

from services.common.tools import responses_tools
from services.emulator.pacing import TOKEN_CHARS
from tests.emulator.driver import SEED_PROMPT, get_or_create_assistant, ok_outputs, seed_ingredients, start_seed_thread
from tests.emulator.conftest import serve
from tests.support.emulator import Emulator

MODEL = "gpt-6.1-sol"
TOKENS_PER_SECOND = 400


@pytest.fixture(scope="module")
def paced() -> Iterator[Emulator]:
    yield from serve("--think-ms", "0", "--tokens-per-second", str(TOKENS_PER_SECOND))


def _writing_seconds(arguments: list[str]) -> float:
    return sum(len(a) for a in arguments) / (TOKEN_CHARS * TOKENS_PER_SECOND)


def _ingredients_turn(client: OpenAI) -> Any:
    first = client.responses.create(model=MODEL, input=SEED_PROMPT, tools=responses_tools())
    return first, [{"type": "function_call_output", "call_id": item.call_id, "output": "OK"} for item in first.output]


def _tool_calls(emulator: Emulator) -> dict[str, dict[str, Any]]:
    return requests.get(f"{emulator.url}/_emulator/toolcalls", timeout=10).json()["tool_calls"]


def test_a_responses_stream_writes_each_call_as_added_deltas_done_then_item_done(paced: Emulator) -> None:
    client = paced.client()
    first, answers = _ingredients_turn(client)
    received: list[tuple[float, Any]] = []
    stream = client.responses.create(model=MODEL, previous_response_id=first.id, input=answers,
                                     tools=responses_tools(), stream=True)
    for event in stream:
        received.append((time.monotonic(), event))

    kinds = [event.type for _, event in received]
    calls = [event.item for _, event in received if event.type == "response.output_item.done"]
    assert [json.loads(call.arguments) for call in calls] == seed_ingredients()
    for index, call in enumerate(calls):
        mine = [event for _, event in received if getattr(event, "output_index", None) == index]
        assert [e.type for e in mine][0] == "response.output_item.added" and mine[0].item.arguments == ""
        assert mine[0].item.status == "in_progress"
        assert [e.type for e in mine][-2:] == ["response.function_call_arguments.done", "response.output_item.done"]
        deltas = [e.delta for e in mine if e.type == "response.function_call_arguments.delta"]
        assert "".join(deltas) == call.arguments and all(len(d) <= TOKEN_CHARS for d in deltas)
    assert kinds[-1] == "response.completed"
    done_at = [at for at, event in received if event.type == "response.output_item.done"]
    assert done_at[-1] - done_at[0] >= 0.8 * _writing_seconds([c.arguments for c in calls[1:]])


def test_the_sdk_stream_helper_parses_paced_calls(paced: Emulator) -> None:
    client = paced.client()
    first, answers = _ingredients_turn(client)

    with client.responses.stream(model=MODEL, previous_response_id=first.id, input=answers,
                                 tools=responses_tools()) as stream:
        final = stream.get_final_response()

    assert [json.loads(item.arguments) for item in final.output] == seed_ingredients()


def test_a_plain_response_comes_only_after_every_call_is_written(paced: Emulator) -> None:
    client = paced.client()
    first, answers = _ingredients_turn(client)

    asked = time.monotonic()
    second = client.responses.create(model=MODEL, previous_response_id=first.id, input=answers,
                                     tools=responses_tools())

    assert second.status == "completed"
    assert time.monotonic() - asked >= _writing_seconds([item.arguments for item in second.output])


def test_each_streamed_call_records_when_its_last_event_was_sent(paced: Emulator) -> None:
    client = paced.client()
    first, answers = _ingredients_turn(client)
    received: dict[str, float] = {}
    for event in client.responses.create(model=MODEL, previous_response_id=first.id, input=answers,
                                         tools=responses_tools(), stream=True):
        if event.type == "response.output_item.done":
            received[event.item.call_id] = time.time()

    recorded = _tool_calls(paced)
    completed = [recorded[call_id]["completed_at"] for call_id in received]
    assert completed == sorted(completed)
    assert all(recorded[c]["emitted_at"] <= recorded[c]["completed_at"] <= at for c, at in received.items())


def test_an_assistants_stream_writes_tool_call_deltas_before_requires_action(paced: Emulator) -> None:
    client = paced.client()
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        run = stream.get_final_run()
    pending = run.required_action.submit_tool_outputs.tool_calls
    stream = client.beta.threads.runs.submit_tool_outputs(thread_id=thread.id, run_id=run.id, stream=True,
                                                          tool_outputs=ok_outputs(pending))
    events = [(time.monotonic(), event) for event in stream]

    kinds = [event.event for _, event in events]
    deltas = [event.data.delta.step_details.tool_calls[0] for _, event in events
              if event.event == "thread.run.step.delta"]
    assert kinds.index("thread.run.step.created") < kinds.index("thread.run.step.delta")
    assert kinds[-1] == "thread.run.requires_action"
    final = events[-1][1].data.required_action.submit_tool_outputs.tool_calls
    heads = [d for d in deltas if d.id is not None]
    assert [(h.index, h.id, h.type, h.function.name) for h in heads] == [
        (i, c.id, "function", c.function.name) for i, c in enumerate(final)]
    for index, call in enumerate(final):
        assert "".join(d.function.arguments or "" for d in deltas if d.index == index) == call.function.arguments
    spread = events[-1][0] - next(at for at, e in events if e.event == "thread.run.step.delta")
    assert spread >= 0.8 * _writing_seconds([c.function.arguments for c in final])


def test_a_polled_run_asks_for_outputs_only_after_the_calls_are_written(paced: Emulator) -> None:
    client = paced.client()
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    pending = run.required_action.submit_tool_outputs.tool_calls
    client.beta.threads.runs.submit_tool_outputs(thread_id=thread.id, run_id=run.id, tool_outputs=ok_outputs(pending))
    submitted = time.monotonic()

    run = client.beta.threads.runs.poll(thread_id=thread.id, run_id=run.id, poll_interval_ms=5)

    calls = run.required_action.submit_tool_outputs.tool_calls
    assert time.monotonic() - submitted >= _writing_seconds([c.function.arguments for c in calls])


def test_the_pace_is_a_runtime_knob(start_emulator: Callable[..., Emulator]) -> None:
    emulator = start_emulator()

    assert emulator.configure(tokens_per_second=40)["tokens_per_second"] == 40
    assert requests.put(f"{emulator.url}/_emulator/config", json={"tokens_per_second": -1},
                        timeout=10).status_code == 400
