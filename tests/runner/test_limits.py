"""RUNNER_MAX_TURNS and RUNNER_MAX_TOOL_CALLS: a runaway model is stopped, its turn cancelled."""
from __future__ import annotations

import pytest

from services.common import schemas
from services.runner.domain import LIMIT_CODE, Limits
from tests.runner.helpers import SEED_PROMPT, distinct


def test_limits_allow_up_to_their_bounds_and_fail_past_them():
    limits = Limits(max_turns=3, max_tool_calls=10)
    assert limits.exceeded(turns=3, tool_calls=10) is None
    assert limits.exceeded(turns=4, tool_calls=1).code == LIMIT_CODE
    assert "RUNNER_MAX_TOOL_CALLS" in limits.exceeded(turns=1, tool_calls=11).reason


@pytest.mark.parametrize("backend", ["assistants", "responses"])
def test_a_generation_past_its_tool_call_bound_fails_with_limit_exceeded(backend, start_emulator, start_runner,
                                                                        pipeline):
    emulator = start_emulator()
    start_runner(emulator, MODEL_BACKEND=backend, RUNNER_MAX_TOOL_CALLS="5")
    gid = pipeline.request(SEED_PROMPT)
    failed = pipeline.wait_terminal(gid)
    assert failed.type == schemas.GENERATION_FAILED and failed.data["code"] == LIMIT_CODE
    assert "RUNNER_MAX_TOOL_CALLS" in failed.data["reason"]
    calls = [e for e in distinct(pipeline.events(gid)) if e.type in schemas.TOOLCALL_TYPES]
    assert len(calls) == 5  # the sixth call was not published
    if backend == "assistants":  # the run waiting for its outputs was cancelled, not left to expire
        started = next(e for e in pipeline.events(gid) if e.type == schemas.GENERATION_STARTED)
        run = emulator.get(f"/threads/{started.data['thread_id']}/runs/{started.data['run_id']}")
        assert run["status"] in ("cancelling", "cancelled")


def test_a_generation_past_its_turn_bound_fails_without_answering_the_model(start_emulator, start_runner, pipeline):
    emulator = start_emulator()
    start_runner(emulator, MODEL_BACKEND="responses", RUNNER_MAX_TURNS="2")
    gid = pipeline.request(SEED_PROMPT)
    failed = pipeline.wait_terminal(gid)
    assert failed.type == schemas.GENERATION_FAILED and failed.data["code"] == LIMIT_CODE
    assert "RUNNER_MAX_TURNS" in failed.data["reason"]
    assert emulator.requests_to("POST /v1/responses") == 2  # the third turn was never asked for
