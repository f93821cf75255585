"""RUNNER_RUN_TIMEOUT_SECONDS: a model turn that never finishes is cancelled and its generation fails.

The emulator's ``run_hang`` fault keeps a run / response in_progress forever (streams stay open with
keep-alives only, polls answer in_progress) until it is cancelled.
"""
import time
from datetime import datetime, timedelta, timezone

import pytest

from services.common import schemas, topology
from services.runner.domain import Deadline
from services.runner.backends import TurnTimedOut
from services.runner.backends.assistants import AssistantsModel
from services.runner.backends.responses import ResponsesModel
from services.runner.backends.sdk import make_client
from tests.runner.helpers import SEED_PROMPT, distinct
from tests.support.broker import queue_depth, unsettled
from tests.support.waiting import wait_for

TIMEOUT = "2"
HANG = ("--faults", "run_hang=1")
RESPONSES = {"MODEL_BACKEND": "responses"}
BACKGROUND = {**RESPONSES, "RUNNER_RESPONSES_BACKGROUND": "true", "RUNNER_SAFETY_POLL_SECONDS": "60"}
RUN_CANCEL = "POST /v1/threads/<thread_id>/runs/<run_id>/cancel"
RESPONSE_CANCEL = "POST /v1/responses/<response_id>/cancel"


def _assert_timed_out_and_acked(pipeline, runner, gid, started_at: float):
    failed = pipeline.wait_terminal(gid, timeout=20)
    assert failed.type == schemas.GENERATION_FAILED
    assert failed.data["code"] == "run_timeout"
    assert f"after {TIMEOUT} s" in failed.data["reason"]
    assert time.monotonic() - started_at < 15  # the bound, not the API's own expiry (10 min)
    assert runner.terminate(timeout=40) == 0  # an unacked request would now be back in the queue
    assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.name) == 0
    assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.dead_letter_queue) == 0
    events = distinct(pipeline.events(gid))
    assert [e.type for e in events] == [schemas.GENERATION_STARTED, schemas.GENERATION_FAILED]
    return events[0]


def _a_generation_timed_out(start_emulator, start_runner, pipeline, **env):
    """Run one generation against a model that never finishes its turn; (emulator, generation.started)."""
    emulator = start_emulator(*HANG)
    runner = start_runner(emulator, RUNNER_RUN_TIMEOUT_SECONDS=TIMEOUT, **env)
    began = time.monotonic()
    gid = pipeline.request(SEED_PROMPT)
    return emulator, _assert_timed_out_and_acked(pipeline, runner, gid, began)


def _model_api_requests(emulator) -> int:
    return sum(n for route, n in emulator.stats()["requests"].items() if route.split(" ")[1].startswith("/v1/"))


def test_the_bound_counts_from_the_recorded_start_of_the_turn():
    started = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert not Deadline(started, 600).passed(started + timedelta(seconds=599.9))
    assert Deadline(started, 600).passed(started + timedelta(seconds=600))
    assert Deadline(started, 600).passed(started + timedelta(hours=2))
    assert not Deadline(started.replace(tzinfo=None), 2.5).passed(started + timedelta(seconds=1))  # naive = UTC


def test_polling_a_hung_run_or_response_stops_at_the_deadline(start_emulator):
    emulator = start_emulator(*HANG)
    client = make_client(None, emulator.base_url)
    try:
        assistants = AssistantsModel(client, "gpt-test")
        thread_id = assistants.create_thread()
        assistants.add_message(thread_id, SEED_PROMPT)
        run = client.beta.threads.runs.create(thread_id, assistant_id=assistants.assistant_id())  # not streamed
        response = client.responses.create(model="gpt-test", input=SEED_PROMPT, background=True)
        for wait, turn_id in ((lambda d: assistants.poll(thread_id, run.id, d), run.id),
                              (lambda d: ResponsesModel(client, "gpt-test").poll(response.id, d), response.id)):
            began = time.monotonic()
            with pytest.raises(TurnTimedOut) as timed_out:
                wait(Deadline(datetime.now(timezone.utc) - timedelta(seconds=0.5), 1.5))
            assert timed_out.value.turn_id == turn_id
            assert 0.8 < time.monotonic() - began < 3  # what was left of the bound, not a fresh one
    finally:
        client.close()


def test_a_hung_assistants_run_is_cancelled_and_the_generation_fails_with_run_timeout(
        start_emulator, start_runner, pipeline):
    emulator, started = _a_generation_timed_out(start_emulator, start_runner, pipeline)
    run = emulator.get(f"/threads/{started.data['thread_id']}/runs/{started.data['run_id']}")
    assert run["status"] == "cancelled"
    assert emulator.stats()["requests"].get(RUN_CANCEL) == 1
    assert emulator.stats()["objects"]["runs"] == 1


def test_a_redelivered_request_for_a_timed_out_generation_starts_no_second_run(
        start_emulator, start_runner, pipeline):
    emulator = start_emulator(*HANG)
    runner = start_runner(emulator, RUNNER_RUN_TIMEOUT_SECONDS=TIMEOUT)
    gid = pipeline.request(SEED_PROMPT)
    assert pipeline.wait_terminal(gid, timeout=20).data["code"] == "run_timeout"
    requests_before = _model_api_requests(emulator)
    pipeline.request(SEED_PROMPT, generation_id=gid)  # the same request again, e.g. a publisher's retry
    # Confirmed, so it is in the queue; once it is settled the runner has handled it (and made any calls).
    wait_for(lambda: unsettled(pipeline.url, topology.RUNNER_GENERATIONS.name) == 0, timeout=20,
             message="the repeated request handled and acked")
    assert runner.terminate(timeout=40) == 0
    assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.name) == 0  # consumed and acked
    assert _model_api_requests(emulator) == requests_before  # not one model API call
    assert emulator.stats()["objects"] == {"assistants": 1, "threads": 1, "runs": 1, "responses": 0}
    assert [e.type for e in distinct(pipeline.events(gid))] == [schemas.GENERATION_STARTED,
                                                               schemas.GENERATION_FAILED]


def test_a_hung_streamed_response_fails_with_run_timeout_and_is_abandoned_without_a_cancel(
        start_emulator, start_runner, pipeline):
    emulator, _started = _a_generation_timed_out(start_emulator, start_runner, pipeline, **RESPONSES)
    stats = emulator.stats()
    # like OpenAI, only background responses can be cancelled: closing the stream abandons this one
    assert RESPONSE_CANCEL not in stats["requests"]
    assert stats["objects"]["responses"] == 1


def test_a_hung_background_response_is_cancelled_without_waiting_for_the_safety_poll(
        start_emulator, start_runner, pipeline):
    emulator, started = _a_generation_timed_out(start_emulator, start_runner, pipeline, **BACKGROUND)
    assert emulator.get(f"/responses/{started.data['response_id']}")["status"] == "cancelled"
    assert emulator.stats()["responses"].get(f"{RESPONSE_CANCEL} 200") == 1


def test_a_restarted_runner_keeps_the_recorded_start_instead_of_waiting_a_fresh_timeout(
        start_emulator, start_runner, pipeline):
    timeout = 8.0
    emulator = start_emulator(*HANG)
    runner = start_runner(emulator, RUNNER_RUN_TIMEOUT_SECONDS=str(timeout))
    gid = pipeline.request(SEED_PROMPT)
    wait_for(lambda: any(e.type == schemas.GENERATION_STARTED for e in pipeline.events(gid)), timeout=15,
             message="the generation to start")
    time.sleep(4)  # not a barrier (the start is awaited above): half the bound must pass before the restart
    runner.kill()
    restarted = time.monotonic()
    start_runner(emulator, RUNNER_RUN_TIMEOUT_SECONDS=str(timeout))
    failed = pipeline.wait_terminal(gid, timeout=20)
    assert failed.data["code"] == "run_timeout"
    assert time.monotonic() - restarted < timeout - 2  # a fresh clock would need the full bound after resuming
    assert emulator.stats()["objects"]["runs"] == 1  # resumed the same run, then cancelled it
    assert emulator.stats()["requests"].get(RUN_CANCEL) == 1
