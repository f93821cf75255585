"""Runs that fail end as generation.failed and are acked; unusable requests are dead-lettered."""
import pytest

from services.common import schemas, topology
from tests.runner.helpers import SEED_PROMPT, Pipeline, distinct
from tests.support.broker import get_all, queue_depth
from tests.support.waiting import wait_for


def test_a_failed_run_ends_as_generation_failed_with_the_reason_and_the_request_is_acked(
        start_emulator, start_runner, pipeline):
    emulator = start_emulator("--faults", "run_fail=1")
    runner = start_runner(emulator)
    gid = pipeline.request(SEED_PROMPT)
    failed = pipeline.wait_terminal(gid)
    assert failed.type == schemas.GENERATION_FAILED
    assert failed.data["reason"] == "run failed: Sorry, something went wrong."
    assert failed.data["code"] == "server_error"
    assert runner.terminate(timeout=40) == 0  # an unacked request would now be back in the queue
    assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.name) == 0
    assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.dead_letter_queue) == 0
    assert emulator.stats()["objects"]["runs"] == 1
    assert [e.type for e in distinct(pipeline.events(gid))] == [
        schemas.GENERATION_STARTED, schemas.GENERATION_FAILED]


def test_an_expired_run_ends_as_generation_failed(start_emulator, start_runner, pipeline):
    emulator = start_emulator("--faults", "run_expire=1")
    start_runner(emulator)
    gid = pipeline.request(SEED_PROMPT)
    failed = pipeline.wait_terminal(gid)
    assert failed.type == schemas.GENERATION_FAILED
    assert failed.data["reason"].startswith("run expired") and failed.data["code"] == "expired"


def test_a_request_that_is_not_a_valid_event_is_dead_lettered_with_the_reason(
        start_emulator, start_runner, pipeline):
    emulator = start_emulator()
    start_runner(emulator)
    pipeline.publish_raw(b'{"specversion": "1.0", "type": "generation.requested"}', message_id="broken-1")
    dead = wait_for(lambda: get_all(pipeline.url, topology.RUNNER_GENERATIONS.dead_letter_queue),
                    message="the poison request in the dead-letter queue")
    [(properties, _body)] = dead
    assert properties.message_id == "broken-1"
    assert "unusable generation request" in properties.headers[topology.REJECTION_REASON_HEADER]
    assert emulator.stats()["objects"]["threads"] == 0  # nothing was started for it


@pytest.mark.slow
def test_a_model_api_that_never_answers_ends_as_generation_failed_on_the_last_delivery(
        start_emulator, start_runner, rabbitmq_url):
    emulator = start_emulator("--faults", "rate_limit=1", "--retry-after-ms", "10")
    with Pipeline(rabbitmq_url, delivery_limit=1) as pipeline:  # two deliveries, then give up
        start_runner(emulator, DELIVERY_LIMIT="1")
        gid = pipeline.request(SEED_PROMPT)
        failed = pipeline.wait_terminal(gid, timeout=120)
        assert failed.type == schemas.GENERATION_FAILED
        assert failed.data["code"] == "retries_exhausted"
        assert failed.data["reason"].startswith("gave up after 2 deliveries") and "429" in failed.data["reason"]
        assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.dead_letter_queue) == 0
