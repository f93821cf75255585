"""Operators can see why messages were dead-lettered and replay them."""
import json
import os
import subprocess
import sys
import threading

from services.cli import dead_letters
from services.common import topology
from services.common.consumer import Consumer, one_at_a_time
from services.common.rejection import Rejected
from services.common.events import new_event
from services.common.publisher import Publisher
from services.common.schemas import GENERATION_REQUESTED
from tests.support.broker import get_all, queue_depth
from tests.support.processes import ROOT
from tests.support.waiting import wait_for


def _dead_letter_one(url: str) -> str:
    """Run a consumer that refuses everything, publish one request, return its id once dead-lettered."""
    def refuse(_delivery):
        raise Rejected("prompt mentions an unknown cuisine")

    consumer = Consumer(url, topology.RUNNER_GENERATIONS, one_at_a_time(refuse))
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    wait_for(lambda: consumer.consuming, message="consumer ready")
    event = new_event(GENERATION_REQUESTED, "test", {"generation_id": "gen-1", "prompt": "fusion"})
    publisher = Publisher(url).start()
    publisher.publish([event], timeout=10)
    publisher.close()
    wait_for(lambda: queue_depth(url, topology.RUNNER_GENERATIONS.dead_letter_queue) == 1, message="dead letter")
    consumer.stop()
    thread.join(30)
    return event.id


def test_listing_shows_the_reason_and_keeps_the_dead_letters(rabbitmq_url):
    event_id = _dead_letter_one(rabbitmq_url)
    [letter] = dead_letters.peek(rabbitmq_url, topology.RUNNER_GENERATIONS.name)
    assert (letter.message_id, letter.routing_key) == (event_id, "generation.requested")
    assert letter.reason == "prompt mentions an unknown cuisine"
    wait_for(lambda: queue_depth(rabbitmq_url, topology.RUNNER_GENERATIONS.dead_letter_queue) == 1,
             message="the peeked letter back in its queue")


def test_replay_puts_the_message_back_on_its_route_with_the_same_id(rabbitmq_url):
    event_id = _dead_letter_one(rabbitmq_url)
    assert dead_letters.replay(rabbitmq_url, topology.RUNNER_GENERATIONS.name) == 1
    assert queue_depth(rabbitmq_url, topology.RUNNER_GENERATIONS.dead_letter_queue) == 0
    [(properties, _body)] = wait_for(lambda: get_all(rabbitmq_url, topology.RUNNER_GENERATIONS.name),
                                     message="the replayed message")
    assert properties.message_id == event_id
    headers = properties.headers or {}
    for bookkeeping in ("x-death", "x-first-death-reason", topology.REJECTION_REASON_HEADER, "x-original-routing-key"):
        assert bookkeeping not in headers


def test_the_cli_lists_dead_letters_as_json_lines_for_scripts(rabbitmq_url):
    event_id = _dead_letter_one(rabbitmq_url)
    done = subprocess.run([sys.executable, "-m", "services.cli", "dead-letters", "list",
                           topology.RUNNER_GENERATIONS.name, "--json"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "RABBITMQ_URL": rabbitmq_url})
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"message_id": event_id, "routing_key": "generation.requested", "reason": "prompt mentions an unknown cuisine"}]
