"""GET /_emulator/toolcalls: when each tool call was made available (benchmarks join it with the store's log)."""
from __future__ import annotations

import time
from typing import Any

import requests
from openai import OpenAI

from tests.support.emulator import Emulator
from tests.emulator.driver import get_or_create_assistant, ok_outputs, start_seed_thread


def _tool_calls(emulator: Emulator) -> dict[str, dict[str, Any]]:
    response = requests.get(f"{emulator.url}/_emulator/toolcalls", timeout=10)
    response.raise_for_status()
    return response.json()["tool_calls"]


def test_every_streamed_tool_call_has_its_emission_time_between_the_submit_and_the_client_seeing_it(
        emulator: Emulator, client: OpenAI) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    seen: list[tuple[Any, float, float]] = []  # (call, asked at, received at)
    asked = time.time()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        run = stream.get_final_run()
    while run.status == "requires_action":
        received = time.time()
        pending = run.required_action.submit_tool_outputs.tool_calls
        seen += [(call, asked, received) for call in pending]
        asked = time.time()
        with client.beta.threads.runs.submit_tool_outputs_stream(
                thread_id=thread.id, run_id=run.id, tool_outputs=ok_outputs(pending)) as stream:
            run = stream.get_final_run()
    assert run.status == "completed"

    recorded = _tool_calls(emulator)
    assert len(seen) == 29
    for call, asked_at, received_at in seen:
        entry = recorded[call.id]
        assert entry["name"] == call.function.name
        assert asked_at <= entry["due_at"] <= entry["emitted_at"] <= received_at
        assert entry["emitted_at"] - asked_at >= 0.015  # the think time (20 ms) passed first


def test_responses_function_calls_are_recorded_too(emulator: Emulator, client: OpenAI) -> None:
    response = client.responses.create(model="gpt-4.1", input="Please write a recipe for bean chilli.")
    [call] = [item for item in response.output if item.type == "function_call"]

    entry = _tool_calls(emulator)[call.call_id]

    assert entry["name"] == "addRecipe"
    assert entry["emitted_at"] <= time.time()


def test_the_stats_reset_forgets_the_tool_call_times(start_emulator) -> None:
    emulator = start_emulator("--think-ms", "0")
    client = emulator.client()
    client.responses.create(model="gpt-4.1", input="Please write a recipe for fish pie.")
    assert len(_tool_calls(emulator)) == 1

    requests.post(f"{emulator.url}/_emulator/stats/reset", timeout=10).raise_for_status()

    assert _tool_calls(emulator) == {}
