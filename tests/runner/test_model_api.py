"""The model API adapters against the emulator over HTTP, with the real SDK (no broker involved)."""
import threading

import pytest

from services.common.tools import assistants_tools
from services.runner.domain import ASSISTANT_NAME
from services.runner.backends.assistants import AssistantsModel
from services.runner.backends.responses import ResponsesModel
from services.runner.backends.sdk import make_client
from tests.runner.helpers import SEED_PROMPT


@pytest.fixture
def emulator(start_emulator):
    return start_emulator("--think-ms", "200", "--poll-after-ms", "50")


@pytest.fixture
def client(emulator):
    client = make_client(None, emulator.base_url)
    yield client
    client.close()


@pytest.fixture
def model(client):
    return AssistantsModel(client, "gpt-test")


def _thread_with_prompt(model):
    thread_id = model.create_thread()
    model.add_message(thread_id, SEED_PROMPT)
    return thread_id


def test_an_existing_assistant_of_that_name_is_reused_and_its_tools_brought_up_to_date(client, model, emulator):
    existing = client.beta.assistants.create(name=ASSISTANT_NAME, model="gpt-test", tools=[])
    assert model.assistant_id() == existing.id
    tools = [t.model_dump(exclude_none=True) for t in client.beta.assistants.retrieve(existing.id).tools]
    assert tools == assistants_tools()
    assert emulator.stats()["objects"]["assistants"] == 1


def test_concurrent_first_calls_find_or_create_a_single_assistant(model, emulator):
    ids = []
    threads = [threading.Thread(target=lambda: ids.append(model.assistant_id())) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(ids) == 20 and len(set(ids)) == 1
    assert emulator.stats()["objects"]["assistants"] == 1


def test_without_a_stream_polling_learns_of_requires_action(client, model):
    thread_id = _thread_with_prompt(model)
    run = client.beta.threads.runs.create(thread_id, assistant_id=model.assistant_id())  # not streamed
    state = model.poll(thread_id, run.id)
    assert state.status == "requires_action"
    assert [call.name for call in state.tool_calls] == ["addRecipe"]


def test_a_streamed_run_reports_its_id_as_soon_as_it_exists_then_stops_at_requires_action(model):
    thread_id = _thread_with_prompt(model)
    created = []
    state = model.start_run(thread_id, instructions=None, model=None, metadata={"generation_id": "g"},
                            on_created=created.append)
    assert [s.id for s in created] == [state.id]
    assert state.status == "requires_action" and state.tool_calls[0].name == "addRecipe"
    assert model.find_run(thread_id).id == state.id


def test_a_submit_the_run_no_longer_needs_returns_the_runs_state_instead_of_failing(model):
    thread_id = _thread_with_prompt(model)
    state = model.start_run(thread_id, instructions=None, model=None, metadata={}, on_created=lambda s: None)
    outputs = [{"tool_call_id": c.id, "output": "OK"} for c in state.tool_calls]
    model.submit(thread_id, state.id, outputs)
    again = model.submit(thread_id, state.id, outputs)  # e.g. a retry whose first attempt was applied
    assert again.id == state.id
    assert again.status in ("queued", "in_progress", "requires_action")


def test_a_stream_that_breaks_mid_run_falls_back_to_polling(start_emulator):
    emulator = start_emulator("--think-ms", "1500", "--poll-after-ms", "50")
    client = make_client(None, emulator.base_url, timeout=0.5)  # the stream's read times out while the model thinks
    try:
        model = AssistantsModel(client, "gpt-test")
        thread_id = _thread_with_prompt(model)
        created = []
        state = model.start_run(thread_id, instructions=None, model=None, metadata={}, on_created=created.append)
        assert created and state.id == created[0].id
        assert state.status is None  # the stream broke: the run's state is unknown, not guessed
        state = model.poll(thread_id, state.id)
        assert state.status == "requires_action" and state.tool_calls[0].name == "addRecipe"
    finally:
        client.close()


def test_a_responses_stream_that_breaks_mid_turn_falls_back_to_polling(start_emulator):
    emulator = start_emulator("--think-ms", "1500")
    client = make_client(None, emulator.base_url, timeout=0.5)
    try:
        model = ResponsesModel(client, "gpt-test")
        created = []
        turn = model.create(prompt=SEED_PROMPT, instructions="", previous_id=None, outputs=(), model=None,
                            metadata={}, on_created=created.append)
        assert created and turn.id == created[0].id and turn.status is None
        turn = model.poll(turn.id)
        assert turn.status == "completed" and [c.name for c in turn.tool_calls] == ["addRecipe"]
    finally:
        client.close()
