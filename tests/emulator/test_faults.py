"""Fault knobs: HTTP faults the SDK retries, runs that fail or expire, and tool calls the model must correct."""
from __future__ import annotations

import json
from typing import Any, Callable

import openai
import pytest
import requests
from openai import OpenAI

from services.common.tools import check_tool_call
from tests.support.emulator import Emulator
from tests.emulator.driver import (
    SEED, Collected, get_or_create_assistant, ok_outputs, record, seed_ingredients, seed_steps, start_seed_thread)
from tests.support.waiting import wait_for

FAULTS = "X-Emulator-Faults"


def _runner_answer(call: Any) -> str:
    """What our runner answers: "OK", or the validation error that tells the model what was wrong."""
    verdict = check_tool_call(call.function.name, call.function.arguments)
    return "OK" if verdict.ok else verdict.error


def _generate(client: OpenAI, faults: str = "", answer: Callable[[Any], str] = _runner_answer) -> tuple[Collected, Any]:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   extra_headers={FAULTS: faults} if faults else None)
    collected = Collected()
    while run.status == "requires_action":
        calls = run.required_action.submit_tool_outputs.tool_calls
        record(collected, calls)
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread.id, tool_outputs=ok_outputs(calls, answer))
    return collected, run


def _valid(name: str, args: dict[str, Any]) -> bool:
    return check_tool_call(name, args["raw"] if set(args) == {"raw"} else json.dumps(args)).ok


def _accepted(collected: Collected, name: str) -> list[dict[str, Any]]:
    return [args for called, args in collected.calls
            if called == name and check_tool_call(name, json.dumps(args)).ok]


@pytest.mark.parametrize("fault", ["wrong_types", "malformed_args", "unknown_function"])
def test_content_faults_are_corrected_after_the_error_output(client: OpenAI, fault: str) -> None:
    collected, run = _generate(client, f"{fault}=1")

    assert run.status == "completed"
    assert [len(batch) for batch in collected.batches] == [1, 1, 19, 19, 9, 9]  # every first attempt is faulty
    verdicts = [_valid(name, args) for name, args in collected.calls]
    assert verdicts == [False] + [True] + [False] * 19 + [True] * 19 + [False] * 9 + [True] * 9
    assert _accepted(collected, "addRecipe") == [SEED["recipe"]]
    assert _accepted(collected, "addIngredient") == seed_ingredients()
    assert _accepted(collected, "addStep") == seed_steps()


def test_wrong_types_sends_step_number_as_a_string(client: OpenAI) -> None:
    collected, _ = _generate(client, "wrong_types=1")

    first_step = next(args for name, args in collected.calls if name == "addStep")
    assert first_step["step_number"] == "1"


def test_an_error_output_makes_the_model_resend_that_call(client: OpenAI) -> None:
    rejected: list[str] = []

    def reject_the_butter_once(call: Any) -> str:
        if '"Butter"' in call.function.arguments and not rejected:
            rejected.append(call.id)
            return "Error: invalid arguments for addIngredient: quantity unclear. Call addIngredient again."
        return "OK"

    collected, run = _generate(client, answer=reject_the_butter_once)

    assert run.status == "completed"
    assert [len(batch) for batch in collected.batches] == [1, 19, 1, 9]
    assert collected.calls[20] == ("addIngredient", {"id": "vegetarian_lasagne", "ingredient": "Butter",
                                                     "quantity": "4 tbsp"})


def test_run_fail_fault_fails_the_run_with_last_error(client: OpenAI) -> None:
    _, run = _generate(client, "run_fail=1")

    assert run.status == "failed" and run.failed_at is not None
    assert run.last_error.code == "server_error" and run.last_error.message


def test_run_expire_fault_expires_the_run(client: OpenAI) -> None:
    _, run = _generate(client, "run_expire=1")

    assert run.status == "expired"


def test_rate_limited_requests_are_retried_by_the_sdk(start_emulator: Callable[..., Emulator]) -> None:
    emulator = start_emulator("--faults", "rate_limit=0.5", "--seed", "7")
    client = emulator.client(max_retries=10)

    threads = [client.beta.threads.create() for _ in range(10)]

    stats = emulator.stats()
    assert len({thread.id for thread in threads}) == 10
    assert stats["faults"]["rate_limit"] > 0
    assert stats["responses"]["POST /v1/threads 429"] == stats["faults"]["rate_limit"]
    assert stats["responses"]["POST /v1/threads 200"] == 10


def test_rate_limit_answer_has_the_openai_shape_and_a_short_retry_after(client: OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.with_options(max_retries=0).beta.threads.create(extra_headers={FAULTS: "rate_limit=1"})

    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after-ms"] == "100"


def test_server_errors_are_retried_by_the_sdk(start_emulator: Callable[..., Emulator]) -> None:
    # No retry-after on 500s (like the API): the SDK backs off exponentially, so keep the count small.
    emulator = start_emulator("--faults", "server_error=0.3", "--seed", "3")
    client = emulator.client(max_retries=10)

    threads = [client.beta.threads.create() for _ in range(5)]

    stats = emulator.stats()
    assert len(threads) == 5 and stats["faults"]["server_error"] > 0
    assert stats["responses"]["POST /v1/threads 500"] == stats["faults"]["server_error"]


def test_a_dropped_connection_is_a_connection_error_without_retries(client: OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        client.with_options(max_retries=0).beta.threads.create(extra_headers={FAULTS: "drop=1"})


def test_added_latency_outlasts_a_short_client_timeout(start_emulator: Callable[..., Emulator]) -> None:
    client = start_emulator("--latency-ms", "3000").client(max_retries=0, timeout=0.3)

    with pytest.raises(openai.APITimeoutError):
        client.beta.threads.create()


def test_a_run_left_in_requires_action_expires(start_emulator: Callable[..., Emulator]) -> None:
    client = start_emulator("--run-expire-s", "0", "--think-ms", "0").client()
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)

    later = wait_for(lambda: (r := client.beta.threads.runs.retrieve(run_id=run.id, thread_id=thread.id)).status
                     == "expired" and r, timeout=10, message="the unanswered run to expire")

    assert run.status == "requires_action" and later.expires_at is not None


def test_faults_can_be_changed_at_runtime(start_emulator: Callable[..., Emulator]) -> None:
    emulator = start_emulator()
    client = emulator.client(max_retries=0)

    config = emulator.configure(faults="server_error=1")
    with pytest.raises(openai.InternalServerError):
        client.beta.threads.create()
    emulator.configure(faults={})
    client.beta.threads.create()

    assert config["faults"] == {"server_error": 1.0}
    assert requests.put(f"{emulator.url}/_emulator/config", json={"faults": "nonsense=1"}, timeout=5).status_code == 400
