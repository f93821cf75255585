"""SIGTERM: no new generations are taken, in-flight ones finish within the bound, the rest resume later.

Each test checks the queue after the runner exited, so every message the broker holds is ready (queue_depth).
"""
import signal

from services.common import schemas, topology
from tests.runner.helpers import SEED_PROMPT, distinct
from tests.support.broker import queue_depth
from tests.support.waiting import wait_for


def _started(pipeline, gid):
    return any(e.type == schemas.GENERATION_STARTED for e in pipeline.events(gid))


def test_sigterm_lets_an_in_flight_generation_finish_then_exits(start_emulator, start_runner, pipeline):
    emulator = start_emulator("--think-ms", "700")
    runner = start_runner(emulator, "--stop-timeout", "30")
    gid = pipeline.request(SEED_PROMPT)
    wait_for(lambda: _started(pipeline, gid), message="the generation to start")
    assert runner.terminate(timeout=40) == 0
    events = distinct(pipeline.events(gid))
    assert events[-1].type == schemas.GENERATION_COMPLETED  # confirmed before the process exited
    assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.name) == 0


def test_a_draining_runner_takes_no_new_request(start_emulator, start_runner, pipeline):
    emulator = start_emulator("--think-ms", "1000")
    runner = start_runner(emulator, "--stop-timeout", "30")
    first = pipeline.request(SEED_PROMPT)
    wait_for(lambda: _started(pipeline, first), message="the first generation to start")
    runner.process.send_signal(signal.SIGTERM)
    wait_for(lambda: "shutdown signal received" in runner.log(), message="the runner to get SIGTERM")
    second = pipeline.request(SEED_PROMPT)  # arrives while the first one is still running
    assert runner.process.wait(40) == 0
    assert distinct(pipeline.events(first))[-1].type == schemas.GENERATION_COMPLETED
    assert pipeline.events(second) == []
    assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.name) == 1  # left for another runner


def test_a_generation_unfinished_at_the_bound_is_redelivered_and_resumes_its_run(
        start_emulator, start_runner, pipeline):
    emulator = start_emulator("--think-ms", "3000")  # four model turns: longer than the stop bound
    runner = start_runner(emulator, "--stop-timeout", "1")
    gid = pipeline.request(SEED_PROMPT)
    wait_for(lambda: _started(pipeline, gid), message="the generation to start")
    assert runner.terminate(timeout=30) == 0
    assert not any(e.type == schemas.GENERATION_COMPLETED for e in pipeline.events(gid))
    assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.name) == 1  # back in the queue
    start_runner(emulator)
    assert pipeline.wait_terminal(gid, timeout=60).type == schemas.GENERATION_COMPLETED
    assert emulator.stats()["objects"]["runs"] == 1
    assert len(distinct(pipeline.events(gid))) == 31
