"""GET /v1/models, model_not_found for models not served (strict models), and "Assistants shut down"."""
from __future__ import annotations

from typing import Callable, Iterator

import openai
import pytest
import requests
from openai import OpenAI

from tests.emulator.driver import SEED_PROMPT, get_or_create_assistant, start_seed_thread
from tests.emulator.conftest import serve
from tests.support.emulator import Emulator

RETIRED = "gpt-4-1106-preview"
NOT_FOUND = f"The model `{RETIRED}` does not exist or you do not have access to it."


@pytest.fixture(scope="module")
def strict() -> Iterator[Emulator]:
    yield from serve("--think-ms", "0", "--strict-models")


def _assert_model_not_found(caught: pytest.ExceptionInfo) -> None:
    assert caught.value.status_code == 404
    assert caught.value.body == {"message": NOT_FOUND, "type": "invalid_request_error", "param": None,
                                 "code": "model_not_found"}


def test_the_default_list_has_todays_model_and_one_shutting_down(client: OpenAI) -> None:
    models = {model.id: model for model in client.models.list()}

    assert models["gpt-6.1-sol"].object == "model" and models["gpt-6.1-sol"].owned_by == "system"
    assert models["gpt-6.1-sol"].shutdown_date is None
    assert models["gpt-5"].shutdown_date == "2026-12-11"
    assert RETIRED not in models


def test_one_model_is_retrieved_by_id_and_a_retired_one_is_not_found(client: OpenAI) -> None:
    assert client.models.retrieve("gpt-6.1-sol").id == "gpt-6.1-sol"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve(RETIRED)

    _assert_model_not_found(caught)


def test_the_served_list_is_a_cli_flag_and_a_runtime_knob(start_emulator: Callable[..., Emulator]) -> None:
    emulator = start_emulator("--models", "gpt-6.1-sol,gpt-5@2026-12-11")
    client = emulator.client()
    assert [(m.id, m.shutdown_date) for m in client.models.list()] == [
        ("gpt-6.1-sol", None), ("gpt-5", "2026-12-11")]

    emulator.configure(models=[{"id": "gpt-6-luna", "shutdown_date": None}])

    assert [m.id for m in client.models.list()] == ["gpt-6-luna"]
    assert requests.put(f"{emulator.url}/_emulator/config", json={"models": ["x@12/11/2026"]},
                        timeout=10).status_code == 400


def test_strict_models_refuse_a_retired_model_on_responses(strict: Emulator) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        strict.client().responses.create(model=RETIRED, input=SEED_PROMPT)

    _assert_model_not_found(caught)


def test_strict_models_refuse_a_retired_model_on_assistants_create_and_update(strict: Emulator) -> None:
    client = strict.client()
    with pytest.raises(openai.NotFoundError) as created:
        client.beta.assistants.create(model=RETIRED, name="old")
    assistant = client.beta.assistants.create(model="gpt-6.1-sol", name="new")
    with pytest.raises(openai.NotFoundError) as updated:
        client.beta.assistants.update(assistant.id, model=RETIRED)

    _assert_model_not_found(created)
    _assert_model_not_found(updated)


def test_strict_models_refuse_a_retired_model_on_runs_create(strict: Emulator) -> None:
    client = strict.client()
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, model=RETIRED)

    _assert_model_not_found(caught)


def test_without_strict_models_any_model_name_is_answered(client: OpenAI) -> None:
    response = client.responses.create(model="gpt-test", input=SEED_PROMPT)

    assert response.status == "completed" and response.model == "gpt-test"


def test_assistants_shutdown_answers_404_on_assistants_and_threads(start_emulator: Callable[..., Emulator]) -> None:
    client = start_emulator("--assistants-shutdown").client()
    with pytest.raises(openai.NotFoundError) as listed:
        client.beta.assistants.list(limit=1)
    with pytest.raises(openai.NotFoundError) as threads:
        client.beta.threads.create()

    for caught in (listed, threads):
        assert caught.value.body["code"] == "not_found" and "Responses API" in caught.value.body["message"]


def test_assistants_shutdown_keeps_responses_and_models_working(start_emulator: Callable[..., Emulator]) -> None:
    emulator = start_emulator("--assistants-shutdown", "--think-ms", "0")
    client = emulator.client()

    assert client.responses.create(model="gpt-6.1-sol", input=SEED_PROMPT).status == "completed"
    assert any(model.id == "gpt-6.1-sol" for model in client.models.list())
    assert emulator.stats()["faults"] == {}


def test_assistants_shutdown_is_a_runtime_knob_and_a_header(emulator: Emulator, client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.list(extra_headers={"X-Emulator-Faults": "assistants_shutdown=1"})
    client.beta.assistants.list()
    emulator.configure(faults={"assistants_shutdown": 1})
    try:
        with pytest.raises(openai.NotFoundError):
            client.beta.threads.create()
    finally:
        emulator.configure(faults={})
