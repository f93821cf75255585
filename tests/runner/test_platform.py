"""Start-up checks against today's platform: the runner consumes only what the platform can serve."""
from __future__ import annotations

import datetime

import pytest
import requests

from services.common import schemas, topology
from services.runner.platform import model_verdict
from tests.runner.helpers import SEED_PROMPT, by_type, distinct
from tests.support.broker import queue_depth
from tests.support.mongo import free_port
from tests.support.waiting import wait_for

TODAYS_PLATFORM = ("--strict-models", "--assistants-shutdown")


def readiness(port: int) -> int:
    return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code


def test_default_settings_get_the_seed_recipe_from_todays_platform(start_emulator, start_runner, pipeline):
    emulator = start_emulator(*TODAYS_PLATFORM)
    start_runner(emulator, MODEL_BACKEND="responses")  # the default; the suite's env pins the seed's flow
    gid = pipeline.request(SEED_PROMPT)
    assert pipeline.wait_terminal(gid, timeout=60).type == schemas.GENERATION_COMPLETED
    events = by_type(distinct(pipeline.events(gid)))
    assert len(events[schemas.TOOLCALL_ADD_INGREDIENT]) == 19
    assert len(events[schemas.TOOLCALL_ADD_STEP]) == 9


def test_assistants_backend_on_a_platform_without_assistants_is_not_ready_and_consumes_nothing(
        start_emulator, start_runner, pipeline):
    emulator = start_emulator(*TODAYS_PLATFORM)
    probe_port = free_port()
    runner = start_runner(emulator, MODEL_BACKEND="assistants", PROBE_PORT=str(probe_port))
    gid = pipeline.request(SEED_PROMPT)
    wait_for(lambda: "set MODEL_BACKEND=responses" in runner.log(), timeout=30, message="the fix logged")
    assert readiness(probe_port) == 503
    assert runner.log().count("the Assistants API is not served at") == 1  # once, not once per retry
    assert pipeline.events(gid) == []
    assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.name) == 1  # untouched, no retry burnt


def test_a_retired_configured_model_is_not_ready_with_an_error_naming_the_variable(
        start_emulator, start_runner, pipeline):
    emulator = start_emulator(*TODAYS_PLATFORM)
    probe_port = free_port()
    runner = start_runner(emulator, MODEL_BACKEND="responses", OPENAI_MODEL="gpt-4-1106-preview",
                          PROBE_PORT=str(probe_port))
    gid = pipeline.request(SEED_PROMPT)
    wait_for(lambda: "OPENAI_MODEL='gpt-4-1106-preview' is not served" in runner.log(), timeout=30,
             message="the error naming OPENAI_MODEL")
    assert "gpt-6.1-sol" in runner.log()  # the error lists what is served
    assert readiness(probe_port) == 503
    assert pipeline.events(gid) == []
    assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.name) == 1


def test_a_model_shutting_down_within_30_days_is_served_with_a_warning():
    verdict = model_verdict("gpt-5", [("gpt-5", "2026-12-11")], datetime.date(2026, 12, 2))
    assert (verdict.served, verdict.shutdown_days) == (True, 9)
    assert verdict.warning is not None and "OPENAI_MODEL='gpt-5' shuts down on 2026-12-11" in verdict.warning


def test_a_model_with_no_announced_shutdown_gives_no_warning():
    verdict = model_verdict("gpt-6.1-sol", [("gpt-6.1-sol", None)], datetime.date(2026, 12, 2))
    assert (verdict.served, verdict.warning, verdict.shutdown_days) == (True, None, None)


@pytest.mark.parametrize("backend", ["responses", "assistants"])
def test_a_requests_own_model_the_api_does_not_serve_fails_at_once_with_model_not_found(
        start_emulator, start_runner, pipeline, backend):
    emulator = start_emulator("--strict-models")
    start_runner(emulator, MODEL_BACKEND=backend)
    gid = pipeline.request(SEED_PROMPT, model="gpt-4-1106-preview")
    failed = pipeline.wait_terminal(gid, timeout=60)
    assert (failed.type, failed.data["code"]) == (schemas.GENERATION_FAILED, "model_not_found")
    refused = sum(n for key, n in emulator.stats()["responses"].items() if key.endswith(" 404"))
    assert refused == 1  # one request, no retries
