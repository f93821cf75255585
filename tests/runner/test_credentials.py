"""A model API that refuses the runner's credentials: requests are held, not failed, until the key works."""
from __future__ import annotations

import requests

from services.common import schemas, topology
from tests.runner.helpers import SEED_PROMPT, Pipeline, distinct
from tests.support.broker import queue_depth
from tests.support.mongo import free_port
from tests.support.waiting import wait_for


def refusals(emulator) -> int:
    return sum(count for key, count in emulator.stats()["responses"].items() if key.endswith(" 401"))


def readiness(port: int) -> int:
    return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code


def test_refused_credentials_hold_the_request_until_the_key_works_instead_of_failing_it(
        start_emulator, start_runner, rabbitmq_url):
    emulator = start_emulator()
    emulator.configure(api_key="sk-the-only-valid-key")  # the runner's key is another one: 401
    probe_port = free_port()
    # One redelivery allowed: redelivering on each 401 would fail the generation at the second refusal.
    with Pipeline(rabbitmq_url, delivery_limit=1) as pipeline:
        runner = start_runner(emulator, DELIVERY_LIMIT="1", PROBE_PORT=str(probe_port))
        gid = pipeline.request(SEED_PROMPT)
        wait_for(lambda: refusals(emulator) >= 3, timeout=30, message="the key refused several times")
        assert readiness(probe_port) == 503  # the probe says the runner cannot serve
        assert pipeline.events(gid) == []  # held: neither started nor failed
        emulator.configure(api_key=None)  # the key works again (fixed at the API)
        done = pipeline.wait_terminal(gid, timeout=60)
        assert done.type == schemas.GENERATION_COMPLETED
        assert [e.type for e in distinct(pipeline.events(gid))][0] == schemas.GENERATION_STARTED
        wait_for(lambda: readiness(probe_port) == 200, timeout=10, message="ready again")
        assert runner.terminate(timeout=40) == 0
        assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.name) == 0
        assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.dead_letter_queue) == 0


def test_a_held_request_goes_back_to_the_queue_when_the_runner_stops(start_emulator, start_runner, pipeline):
    emulator = start_emulator()
    emulator.configure(api_key="sk-the-only-valid-key")
    runner = start_runner(emulator)
    pipeline.request(SEED_PROMPT)
    wait_for(lambda: refusals(emulator) >= 1, timeout=30, message="the key refused")
    assert runner.terminate(timeout=40) == 0  # SIGTERM ends the hold at once
    assert queue_depth(pipeline.url, topology.RUNNER_GENERATIONS.name) == 1  # unharmed, for the next runner
