"""The run_hang fault: a run / response stays in_progress forever (streams send keep-alives only) until cancelled."""
from __future__ import annotations

import time

import requests
from openai import OpenAI

from tests.support.emulator import Emulator
from tests.emulator.driver import get_or_create_assistant, start_seed_thread

HANG = {"X-Emulator-Faults": "run_hang=1"}
MODEL = "gpt-4o"


def test_a_hung_run_polls_as_in_progress_until_it_is_cancelled(client: OpenAI, emulator: Emulator) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, extra_headers=HANG)
    time.sleep(0.3)  # many think times (20 ms) later

    raw = client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)
    assert raw.parse().status == "in_progress" and raw.headers.get("openai-poll-after-ms")
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "cancelled"
    assert emulator.stats()["faults"].get("run_hang", 0) >= 1


def test_a_hung_run_stream_sends_only_keep_alives_then_ends_cancelled(client: OpenAI, emulator: Emulator) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    lines: list[str] = []
    with requests.post(f"{emulator.base_url}/threads/{thread.id}/runs", stream=True, timeout=10,
                       headers={"Authorization": "Bearer sk-test", **HANG},
                       json={"assistant_id": assistant.id, "stream": True}) as response:
        stream = response.iter_lines(decode_unicode=True)
        while sum(line == ": keep-alive" for line in lines) < 2:
            lines.append(next(stream))
        client.beta.threads.runs.cancel(client.beta.threads.runs.list(thread.id).data[0].id, thread_id=thread.id)
        lines.extend(stream)

    events = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    assert events == ["thread.run.created", "thread.run.queued", "thread.run.in_progress",
                      "thread.run.cancelled", "done"]


def test_a_hung_background_response_stays_in_progress_until_it_is_cancelled(client: OpenAI) -> None:
    created = client.responses.create(model=MODEL, input="a recipe for soup", background=True, extra_headers=HANG)
    time.sleep(0.3)

    assert client.responses.retrieve(created.id).status == "in_progress"
    assert client.responses.cancel(created.id).status == "cancelled"
    assert client.responses.retrieve(created.id).status == "cancelled"


def test_a_hung_streamed_response_sends_only_keep_alives(emulator: Emulator) -> None:
    lines: list[str] = []
    with requests.post(f"{emulator.base_url}/responses", stream=True, timeout=10,
                       headers={"Authorization": "Bearer sk-test", **HANG},
                       json={"model": MODEL, "input": "a recipe for soup", "stream": True}) as response:
        stream = response.iter_lines(decode_unicode=True)
        while sum(line == ": keep-alive" for line in lines) < 3:
            lines.append(next(stream))

    events = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    assert events == ["response.created", "response.in_progress"]
