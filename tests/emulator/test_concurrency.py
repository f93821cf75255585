"""Many generations at once, as the runner drives them: all finish, and streams need no polling."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from openai import OpenAI

from tests.support.emulator import Emulator
from tests.emulator.driver import get_or_create_assistant, ok_outputs, start_seed_thread

GENERATIONS = 100


def _polled_generation(client: OpenAI, assistant_id: str) -> tuple[str, int]:
    thread = start_seed_thread(client)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id,
                                                   poll_interval_ms=50)
    calls = 0
    while run.status == "requires_action":
        pending = run.required_action.submit_tool_outputs.tool_calls
        calls += len(pending)
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread.id, tool_outputs=ok_outputs(pending), poll_interval_ms=50)
    return run.status, calls


def _streamed_generation(client: OpenAI, assistant_id: str) -> tuple[str, int]:
    thread = start_seed_thread(client)
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant_id) as stream:
        run = stream.get_final_run()
    calls = 0
    while run.status == "requires_action":
        pending = run.required_action.submit_tool_outputs.tool_calls
        calls += len(pending)
        with client.beta.threads.runs.submit_tool_outputs_stream(
                thread_id=thread.id, run_id=run.id, tool_outputs=ok_outputs(pending)) as stream:
            run = stream.get_final_run()
    return run.status, calls


def _run_all(emulator: Emulator, generation: Callable[[OpenAI, str], Any]) -> list[Any]:
    client = emulator.client()
    assistant = get_or_create_assistant(client)
    with ThreadPoolExecutor(max_workers=GENERATIONS) as pool:
        return list(pool.map(lambda _: generation(client, assistant.id), range(GENERATIONS)))


def test_a_hundred_polled_generations_at_once_all_complete(start_emulator: Callable[..., Emulator]) -> None:
    emulator = start_emulator("--think-ms", "100")

    results = _run_all(emulator, _polled_generation)

    assert results == [("completed", 29)] * GENERATIONS


def test_a_hundred_streamed_generations_at_once_complete_without_polling(
        start_emulator: Callable[..., Emulator]) -> None:
    emulator = start_emulator("--think-ms", "100")

    results = _run_all(emulator, _streamed_generation)

    assert results == [("completed", 29)] * GENERATIONS
    assert emulator.requests_to("GET /v1/threads/<thread_id>/runs/<run_id>") == 0
    assert emulator.requests_to("POST /v1/threads/<thread_id>/runs/<run_id>/submit_tool_outputs") == 3 * GENERATIONS
