"""The stream_cut fault: a streamed answer breaks off after its opening events; the run / response goes on."""
from __future__ import annotations

import time

import openai
import pytest
from openai import OpenAI

from tests.support.emulator import Emulator
from tests.emulator.driver import get_or_create_assistant, start_seed_thread

CUT = {"X-Emulator-Faults": "stream_cut=1"}
MODEL = "gpt-4o"


def _cuts(emulator: Emulator) -> int:
    return emulator.stats()["faults"].get("stream_cut", 0)


def _wait_for_status(read, wanted: set[str], timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        current = read()
        if current.status in wanted or time.monotonic() > deadline:
            return current
        time.sleep(0.05)


def test_a_cut_run_stream_raises_a_connection_error_after_the_run_was_created(client: OpenAI,
                                                                               emulator: Emulator) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    cuts_before = _cuts(emulator)
    seen: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        with client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, stream=True,
                                             extra_headers=CUT) as stream:
            for event in stream:
                seen.append(event.event)
    assert seen == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert _cuts(emulator) == cuts_before + 1

    run_id = client.beta.threads.runs.list(thread.id).data[0].id
    run = _wait_for_status(lambda: client.beta.threads.runs.retrieve(run_id, thread_id=thread.id),
                           {"requires_action"})
    assert run.status == "requires_action"  # the run took its turn without the stream
    assert run.required_action.submit_tool_outputs.tool_calls[0].function.name == "addRecipe"


def test_a_cut_response_stream_raises_a_connection_error_and_the_response_completes(client: OpenAI,
                                                                                   emulator: Emulator) -> None:
    cuts_before = _cuts(emulator)
    seen: list[str] = []
    response_id = None
    with pytest.raises(openai.APIConnectionError):
        with client.responses.create(model=MODEL, input="a recipe for soup", stream=True,
                                     extra_headers=CUT) as stream:
            for event in stream:
                seen.append(event.type)
                if event.type == "response.created":
                    response_id = event.response.id
    assert seen[0] == "response.created" and "response.completed" not in seen
    assert _cuts(emulator) == cuts_before + 1

    response = _wait_for_status(lambda: client.responses.retrieve(response_id), {"completed"})
    assert response.status == "completed"  # the model took its turn without the stream
    assert [item.name for item in response.output if item.type == "function_call"] == ["addRecipe"]


def test_without_the_fault_a_stream_runs_to_its_end(client: OpenAI) -> None:
    with client.responses.create(model=MODEL, input="a recipe for soup", stream=True) as stream:
        kinds = [event.type for event in stream]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
