"""The SDK's poll helpers, openai-poll-after-ms, pagination, cancel and the error shape."""
from __future__ import annotations

from typing import Callable

import openai
import pytest
from openai import OpenAI

from tests.support.emulator import Emulator
from tests.emulator.driver import get_or_create_assistant, ok_outputs, start_seed_thread

RETRIEVE = "GET /v1/threads/<thread_id>/runs/<run_id>"


def test_poll_helpers_reach_completed(client: OpenAI) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    batches = 0
    while run.status == "requires_action":
        batches += 1
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread.id,
            tool_outputs=ok_outputs(run.required_action.submit_tool_outputs.tool_calls))

    assert run.status == "completed" and batches == 3


def test_unfinished_runs_carry_an_integer_poll_after_header(client: OpenAI) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)

    raw = client.beta.threads.runs.with_raw_response.retrieve(run_id=run.id, thread_id=thread.id)

    assert raw.parse().status in ("in_progress", "requires_action")
    assert raw.headers["openai-poll-after-ms"] == "10"


def test_poll_helper_follows_the_advertised_interval(start_emulator: Callable[..., Emulator]) -> None:
    # Thinking takes 600 ms per turn. Polling every 20 ms (the header) needs many GETs per turn;
    # the SDK's default of 1000 ms without the header would need exactly two.
    emulator = start_emulator("--think-ms", "600", "--poll-after-ms", "20")
    client = emulator.client()
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)

    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)

    assert run.status == "requires_action"
    assert emulator.requests_to(RETRIEVE) > 5


def test_auto_pagination_yields_every_assistant(start_emulator: Callable[..., Emulator]) -> None:
    emulator = start_emulator()
    client = emulator.client()
    created = [client.beta.assistants.create(model="gpt-6.1-sol", name=f"assistant {n}").id for n in range(7)]

    first_page = client.beta.assistants.list(limit=3)
    listed = [assistant.id for assistant in client.beta.assistants.list(limit=3)]

    assert first_page.has_more is True and len(first_page.data) == 3
    assert first_page.model_extra["object"] == "list" and first_page.model_extra["last_id"] == first_page.data[-1].id
    assert listed == list(reversed(created))
    assert emulator.requests_to("GET /v1/assistants") == 1 + 3


def test_assistants_retrieve_update_delete(client: OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-6.1-sol", name="temporary")
    client.beta.assistants.update(assistant_id=assistant.id, instructions="Be brief.")

    assert client.beta.assistants.retrieve(assistant.id).instructions == "Be brief."
    deleted = client.beta.assistants.delete(assistant.id)
    assert deleted.deleted is True and deleted.id == assistant.id
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.retrieve(assistant.id)


def test_cancel_ends_a_run_cancelled(client: OpenAI) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)

    cancelling = client.beta.threads.runs.cancel(run_id=run.id, thread_id=thread.id)
    final = client.beta.threads.runs.poll(run_id=run.id, thread_id=thread.id)

    assert cancelling.status == "cancelling"
    assert final.status == "cancelled" and final.cancelled_at is not None


def test_unknown_run_is_not_found_with_the_openai_error_body(client: OpenAI) -> None:
    thread = client.beta.threads.create()

    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.runs.retrieve(run_id="run_missing", thread_id=thread.id)

    assert caught.value.status_code == 404
    assert caught.value.body == {"message": "No run found with id 'run_missing'.", "type": "invalid_request_error",
                                 "param": None, "code": None}
    assert caught.value.request_id and caught.value.request_id.startswith("req_")


def test_incomplete_tool_outputs_are_a_bad_request(client: OpenAI) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)

    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.submit_tool_outputs(run_id=run.id, thread_id=thread.id, tool_outputs=[])

    assert caught.value.param == "tool_outputs"
