"""The emulator answers the seed's own sequence of SDK calls the way the API answered the seed."""
from __future__ import annotations

from openai import OpenAI

from tests.emulator.driver import (
    SEED, SEED_INSTRUCTIONS, Collected, get_or_create_assistant, ok_outputs, record, seed_ingredients, seed_steps,
    start_seed_thread)
from tests.support.waiting import wait_for


def _poll_like_the_seed(client: OpenAI, thread_id: str, run_id: str) -> tuple[Collected, object, list[str]]:
    """The seed's loop: retrieve; on requires_action submit "OK" for each call; stop at completed/failed."""
    collected, statuses = Collected(), []

    def step() -> object | None:
        run = client.beta.threads.runs.retrieve(thread_id=thread_id, run_id=run_id)
        statuses.append(run.status)
        if run.status in ("completed", "failed"):
            return run
        if run.status == "requires_action":
            calls = run.required_action.submit_tool_outputs.tool_calls
            record(collected, calls)
            client.beta.threads.runs.submit_tool_outputs(thread_id=thread_id, run_id=run_id,
                                                         tool_outputs=ok_outputs(calls))
        return None

    final = wait_for(step, timeout=60, interval=0.01, message="the seed's run to finish")
    return collected, final, statuses


def test_seed_sequence_reproduces_the_seed_recipe(client: OpenAI) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                          instructions=SEED_INSTRUCTIONS)

    collected, final, statuses = _poll_like_the_seed(client, thread.id, run.id)

    assert final.status == "completed"
    assert collected.batches[0] == ["addRecipe"]
    assert collected.named("addRecipe") == [SEED["recipe"]]
    assert collected.named("addIngredient") == seed_ingredients()
    assert collected.named("addStep") == seed_steps()
    assert [len(batch) for batch in collected.batches] == [1, 19, 9]
    assert "in_progress" in statuses
    newest = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    assert newest.role == "assistant" and newest.run_id == run.id
    assert newest.content[0].text.value == SEED["final_message"]


def test_get_or_create_finds_the_existing_assistant(client: OpenAI) -> None:
    first = get_or_create_assistant(client)
    second = get_or_create_assistant(client)

    assert second.id == first.id
    assert [tool.function.name for tool in second.tools] == ["addRecipe", "addIngredient", "addStep"]


def test_messages_list_filters_by_run_and_orders(client: OpenAI) -> None:
    assistant = get_or_create_assistant(client)
    thread = start_seed_thread(client)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    while run.status == "requires_action":
        calls = run.required_action.submit_tool_outputs.tool_calls
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread.id, tool_outputs=ok_outputs(calls))

    oldest_first = client.beta.threads.messages.list(thread_id=thread.id, order="asc").data
    of_run = client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id).data

    assert [m.role for m in oldest_first] == ["user", "assistant"]
    assert [m.id for m in of_run] == [oldest_first[1].id]
    assert not of_run[0].content[0].text.value.startswith("Yes chef!")  # no run instructions asked for it


def test_other_prompts_give_a_deterministic_recipe(client: OpenAI) -> None:
    assistant = get_or_create_assistant(client)

    def generate() -> Collected:
        thread = start_seed_thread(client, "Design a simple easy to cook recipe for mushroom risotto.")
        collected = Collected()
        run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        while run.status == "requires_action":
            calls = run.required_action.submit_tool_outputs.tool_calls
            record(collected, calls)
            run = client.beta.threads.runs.submit_tool_outputs_and_poll(
                run_id=run.id, thread_id=thread.id, tool_outputs=ok_outputs(calls))
        assert run.status == "completed"
        return collected

    first, second = generate(), generate()

    assert first.calls == second.calls
    recipe = first.named("addRecipe")[0]
    assert recipe["id"] == "mushroom_risotto" and recipe["name"] == "Mushroom Risotto"
    assert len(first.named("addIngredient")) >= 3 and len(first.named("addStep")) >= 3
    assert [s["step_number"] for s in first.named("addStep")] == list(range(1, len(first.named("addStep")) + 1))
