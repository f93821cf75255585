"""Run streams (SSE) that the SDK's AssistantEventHandler and raw streams accept, with the same tool calls."""
from __future__ import annotations

import json
from typing import Any

from openai import AssistantEventHandler, OpenAI

from tests.emulator.driver import (
    SEED, SEED_INSTRUCTIONS, get_or_create_assistant, ok_outputs, seed_ingredients, seed_steps, start_seed_thread)


class Recorder(AssistantEventHandler):
    """Collects finished tool calls and the streamed text, the way a runner's handler would."""

    def __init__(self) -> None:
        super().__init__()
        self.tool_calls: list[tuple[str, dict[str, Any]]] = []
        self.text = ""

    def on_tool_call_done(self, tool_call: Any) -> None:
        self.tool_calls.append((tool_call.function.name, json.loads(tool_call.function.arguments)))

    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.text += delta.value or ""


def test_stream_helpers_give_the_seed_recipe_and_final_run(client: OpenAI) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    calls: list[tuple[str, dict[str, Any]]] = []
    recorder = Recorder()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                         instructions=SEED_INSTRUCTIONS, event_handler=recorder) as stream:
        stream.until_done()
        run = stream.get_final_run()
    calls += recorder.tool_calls
    while run.status == "requires_action":
        pending = run.required_action.submit_tool_outputs.tool_calls
        recorder = Recorder()
        with client.beta.threads.runs.submit_tool_outputs_stream(
                thread_id=thread.id, run_id=run.id, tool_outputs=ok_outputs(pending), event_handler=recorder) as stream:
            stream.until_done()
            run = stream.get_final_run()
        calls += recorder.tool_calls

    assert run.status == "completed"
    assert [args for name, args in calls if name == "addRecipe"] == [SEED["recipe"]]
    assert [args for name, args in calls if name == "addIngredient"] == seed_ingredients()
    assert [args for name, args in calls if name == "addStep"] == seed_steps()
    assert recorder.text == SEED["final_message"]


def test_raw_stream_events_follow_the_documented_order(client: OpenAI) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)

    with client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, stream=True) as stream:
        events = [event.event for event in stream]

    assert events == ["thread.run.created", "thread.run.queued", "thread.run.in_progress",
                      "thread.run.step.created", "thread.run.step.in_progress",
                      "thread.run.step.delta", "thread.run.step.delta", "thread.run.requires_action"]


def test_streamed_requires_action_matches_a_retrieve(client: OpenAI) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)

    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        streamed = stream.get_final_run()
    retrieved = client.beta.threads.runs.retrieve(run_id=streamed.id, thread_id=thread.id)

    assert retrieved.status == streamed.status == "requires_action"
    assert (retrieved.required_action.submit_tool_outputs.tool_calls
            == streamed.required_action.submit_tool_outputs.tool_calls)


def test_submit_stream_reports_the_completed_tool_step_first(client: OpenAI) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    pending = run.required_action.submit_tool_outputs.tool_calls

    with client.beta.threads.runs.submit_tool_outputs(thread_id=thread.id, run_id=run.id,
                                                      tool_outputs=ok_outputs(pending), stream=True) as stream:
        events = [event for event in stream]

    names = [event.event for event in events]
    assert names[:3] == ["thread.run.queued", "thread.run.step.completed", "thread.run.in_progress"]
    assert events[1].data.step_details.tool_calls[0].function.output == "OK"
    assert names[-1] == "thread.run.requires_action"
    assert len(events[-1].data.required_action.submit_tool_outputs.tool_calls) == 19


def test_a_failing_run_streams_its_failure(client: OpenAI) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)

    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                         extra_headers={"X-Emulator-Faults": "run_fail=1"}) as stream:
        names = [event.event for event in stream]
        run = stream.get_final_run()

    assert names[-1] == "thread.run.failed"
    assert run.status == "failed" and run.last_error.code == "server_error"
