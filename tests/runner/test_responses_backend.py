"""MODEL_BACKEND=responses: the same recipe through the Responses API (one response per model turn)."""
import pytest

from services.common import schemas
from tests.runner.helpers import SEED_PROMPT, as_json, by_type, distinct
from tests.support.waiting import wait_for


BACKGROUND = {"RUNNER_RESPONSES_BACKGROUND": "true", "RUNNER_SAFETY_POLL_SECONDS": "0.3"}


def _content(events):
    return sorted((e.type, as_json(e.data["arguments"])) for e in events if e.type.startswith("toolcall.add_"))


def _generate(pipeline, start_runner, emulator, **env):
    runner = start_runner(emulator, **env)
    gid = pipeline.request(SEED_PROMPT)
    pipeline.wait_terminal(gid)
    assert runner.terminate(timeout=40) == 0
    return distinct(pipeline.events(gid))


def test_both_backends_give_the_same_tool_call_events_for_the_seed_prompt(start_emulator, start_runner, pipeline):
    emulator = start_emulator()
    via_assistants = _generate(pipeline, start_runner, emulator)
    via_responses = _generate(pipeline, start_runner, emulator, MODEL_BACKEND="responses")
    assert len(_content(via_assistants)) == 29
    assert _content(via_responses) == _content(via_assistants)
    started = by_type(via_responses)[schemas.GENERATION_STARTED][0]
    assert started.data["backend"] == "responses" and started.data["response_id"].startswith("resp")
    assert [e.type for e in via_responses][0] == schemas.GENERATION_STARTED
    assert via_responses[-1].type == schemas.GENERATION_COMPLETED
    assert via_responses[-1].data["message"].startswith("Yes chef!")
    # background mode with no webhook ingress at all: the safety-net poll alone still finishes it
    via_background = _generate(pipeline, start_runner, emulator, MODEL_BACKEND="responses", **BACKGROUND)
    assert _content(via_background) == _content(via_assistants)
    assert via_background[-1].type == schemas.GENERATION_COMPLETED


def test_responses_backend_sends_invalid_calls_back_and_completes_the_recipe(start_emulator, start_runner, pipeline):
    emulator = start_emulator("--faults", "wrong_types=1")
    events = _generate(pipeline, start_runner, emulator, MODEL_BACKEND="responses")
    assert len(by_type(events)[schemas.TOOLCALL_REJECTED]) == 29
    assert len(_content(events)) == 29
    assert events[-1].data["rejected_tool_calls"] == 29


@pytest.mark.parametrize(("kill_after", "background"), [(schemas.GENERATION_STARTED, False),
                                                       (schemas.TOOLCALL_ADD_RECIPE, False),
                                                       (schemas.GENERATION_STARTED, True)])
def test_after_a_kill_the_responses_chain_resumes_with_the_same_events(
        start_emulator, start_runner, pipeline, kill_after, background):
    emulator = start_emulator("--think-ms", "1500")
    env = {"MODEL_BACKEND": "responses", **(BACKGROUND if background else {})}
    runner = start_runner(emulator, **env)
    reference = pipeline.request(SEED_PROMPT)
    pipeline.wait_terminal(reference)
    gid = pipeline.request(SEED_PROMPT)
    wait_for(lambda: any(e.type == kill_after for e in pipeline.events(gid)), timeout=30,
             message=f"{kill_after} of the second generation")
    runner.kill()
    start_runner(emulator, **env)
    assert pipeline.wait_terminal(gid, timeout=60).type == schemas.GENERATION_COMPLETED
    events = distinct(pipeline.events(gid))
    assert _content(events) == _content(distinct(pipeline.events(reference)))
    assert len(events) == 31
    started = [e for e in pipeline.events(gid) if e.type == schemas.GENERATION_STARTED]
    assert len({e.data["response_id"] for e in started}) == 1
    responses = emulator.stats()["objects"]["responses"]
    if kill_after == schemas.GENERATION_STARTED:
        assert responses == 8  # four turns each: the first turn was recorded and resumed, not re-created
    else:
        # Killed right after publishing, the follow-up POST may be sent but its id not yet seen: the
        # Responses API has no way to list it, so that one turn is created again (its calls never used).
        assert responses in (8, 9)
