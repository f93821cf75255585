"""Two runner processes starting on an empty account agree on one "Recipe Generator" assistant."""
from services.common import schemas
from services.runner.domain import ASSISTANT_NAME
from services.runner.backends.assistants import AssistantsModel
from services.runner.backends.sdk import make_client
from services.runner.mongo import AssistantRegistry
from tests.runner.helpers import SEED_PROMPT
from tests.support.waiting import wait_for

GENERATIONS = 10


def _consuming(runner) -> bool:
    return '"message": "consuming"' in runner.log()


def test_two_runners_that_both_create_an_assistant_converge_on_one_and_delete_the_other(
        start_emulator, start_runner, pipeline):
    # Every model API request takes 300 ms, so both processes list an empty account before either creates.
    emulator = start_emulator("--latency-ms", "300")
    runners = [start_runner(emulator), start_runner(emulator)]
    wait_for(lambda: all(_consuming(r) for r in runners), timeout=30, message="both runners to consume")
    gids = [pipeline.request(SEED_PROMPT) for _ in range(GENERATIONS)]  # round-robin: both get some

    def all_started():
        started = [e for e in pipeline.collect() if e.type == schemas.GENERATION_STARTED]
        return started if {e.subject for e in started} >= set(gids) else None

    started = wait_for(all_started, timeout=60, interval=0.5, message="every generation to start")
    assert all('"message": "assistant created"' in r.log() for r in runners)  # the race did happen
    stats = emulator.stats()
    assert stats["requests"].get("POST /v1/assistants") == 2
    assert stats["requests"].get("DELETE /v1/assistants/<assistant_id>") == 1  # the loser's own duplicate
    [kept] = emulator.get("/assistants")["data"]
    assert kept["name"] == ASSISTANT_NAME
    assert {e.data["assistant_id"] for e in started} == {kept["id"]}  # every run, in both processes


def test_an_agreed_assistant_deleted_at_the_api_is_replaced_by_a_new_agreement(start_emulator, mongo_db):
    emulator = start_emulator()
    client = make_client(None, emulator.base_url)
    try:
        registry = AssistantRegistry(mongo_db)
        first = AssistantsModel(client, "gpt-test", election=registry).assistant_id()
        assert AssistantsModel(client, "gpt-test", election=registry).assistant_id() == first  # another process
        client.beta.assistants.delete(first)
        second = AssistantsModel(client, "gpt-test", election=registry).assistant_id()
        assert second != first and registry.get(ASSISTANT_NAME) == second
        assert [a["id"] for a in emulator.get("/assistants")["data"]] == [second]
    finally:
        client.close()
