"""MODEL_BACKEND=responses: the same recipe through the Responses API (one response per model turn)."""
from services.common import schemas
from tests.runner.helpers import SEED_PROMPT, as_json, by_type, distinct


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


def test_responses_backend_sends_invalid_calls_back_and_completes_the_recipe(start_emulator, start_runner, pipeline):
    emulator = start_emulator("--faults", "wrong_types=1")
    events = _generate(pipeline, start_runner, emulator, MODEL_BACKEND="responses")
    assert len(by_type(events)[schemas.TOOLCALL_REJECTED]) == 29
    assert len(_content(events)) == 29
    assert events[-1].data["rejected_tool_calls"] == 29
