"""POST /v1/generations answers 202 only after RabbitMQ confirmed; GET reports status from MongoDB."""
from __future__ import annotations

import uuid

from services.common import topology
from services.common.events import decode
from services.common.schemas import GENERATION_REQUESTED
from tests.gateway.client import assert_problem
from tests.gateway.conftest import declare
from tests.gateway.documents import insert_generation, insert_recipe
from tests.support.broker import broker_stopped, get_all, queue_depth, rabbitmqctl
from tests.support.events_doc import documented_id
from tests.support.waiting import wait_for

RUNNER_QUEUE = topology.RUNNER_GENERATIONS.name
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def queued_events(rabbitmq_url):
    return [decode(body) for _, body in get_all(rabbitmq_url, RUNNER_QUEUE)]


def test_an_accepted_request_is_a_confirmed_event_in_the_runner_queue(gateway, rabbitmq_url):
    declare(rabbitmq_url, topology.RUNNER_GENERATIONS)
    response = gateway.post_generation({"prompt": "A vegetarian lasagne", "model": "gpt-x",
                                        "instructions": "Be brief."}, traceparent=TRACE)
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["Location"] == f"/v1/generations/{body['id']}"
    assert body["status"] == "queued" and body["links"]["self"] == response.headers["Location"]
    [event] = queued_events(rabbitmq_url)
    assert event.type == GENERATION_REQUESTED and event.subject == body["id"]
    assert event.id == documented_id(event)  # the rule in docs/events.md
    assert dict(event.data) == {"generation_id": body["id"], "prompt": "A vegetarian lasagne",
                                "model": "gpt-x", "instructions": "Be brief."}
    assert event.traceparent.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")  # the caller's trace goes on


def test_the_gateway_declares_the_runner_queue_so_requests_wait_for_a_runner(gateway, rabbitmq_url):
    assert gateway.post_generation().status_code == 202
    assert queue_depth(rabbitmq_url, RUNNER_QUEUE) == 1
    [event] = queued_events(rabbitmq_url)
    assert len(event.traceparent) == 55  # a new trace when the caller sent none


def test_an_accepted_request_is_readable_before_the_store_caught_up(gateway):
    created = gateway.post_generation({"prompt": "Pancakes"}).json()
    view = gateway.get(f"/v1/generations/{created['id']}").json()
    assert view["status"] == "queued" and view["prompt"] == "Pancakes"
    assert view["counts"] == {"recipes": 0, "ingredients": 0, "steps": 0}


def test_status_counts_and_recipe_links_come_from_the_store(gateway, mongo_db):
    generation_id = insert_generation(mongo_db, status="completed", completed_at=None)
    recipe_id = insert_recipe(mongo_db, generation_id, "pea_soup", "Pea soup",
                              ingredients=[("500 g", "peas"), ("1 l", "stock")], steps=["Boil.", "Blend.", "Serve."])
    view = gateway.get(f"/v1/generations/{generation_id}").json()
    assert view["status"] == "completed"
    assert view["counts"] == {"recipes": 1, "ingredients": 2, "steps": 3}
    assert view["recipes"] == [{"id": recipe_id, "name": "Pea soup", "href": f"/v1/recipes/{recipe_id}"}]
    assert view["started_at"].startswith("2026-01-01T12:00:01")


def test_a_failed_generation_says_why(gateway, mongo_db):
    generation_id = insert_generation(mongo_db, status="failed", error={"reason": "model timed out", "code": "timeout"})
    view = gateway.get(f"/v1/generations/{generation_id}").json()
    assert view["status"] == "failed"
    assert view["error"] == {"reason": "model timed out", "code": "timeout"}


def test_an_unknown_generation_is_a_404_problem(gateway):
    assert_problem(gateway.get("/v1/generations/00000000-0000-0000-0000-000000000000"), 404)


def test_a_repeated_idempotency_key_gives_one_generation_and_one_event(gateway, rabbitmq_url):
    first = gateway.post_generation({"prompt": "Soup"}, **{"Idempotency-Key": "order-42"})
    second = gateway.post_generation({"prompt": "Soup"}, **{"Idempotency-Key": "order-42"})
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert len(queued_events(rabbitmq_url)) == 1


def test_an_idempotency_key_reused_with_another_body_is_a_422_problem(gateway, rabbitmq_url):
    assert gateway.post_generation({"prompt": "Soup"}, **{"Idempotency-Key": "k-1"}).status_code == 202
    problem = assert_problem(gateway.post_generation({"prompt": "Cake"}, **{"Idempotency-Key": "k-1"}), 422)
    assert "Idempotency-Key" in problem["detail"]
    assert len(queued_events(rabbitmq_url)) == 1


def test_with_the_broker_stopped_the_answer_is_503_and_no_event_appears_later(gateway, rabbitmq_url):
    assert gateway.post_generation({"prompt": "before"}).status_code == 202  # publisher connected
    get_all(rabbitmq_url, RUNNER_QUEUE)
    with broker_stopped():
        refused = gateway.post_generation({"prompt": "while the broker is down"})
        problem = assert_problem(refused, 503)
        assert refused.headers["Retry-After"].isdigit()
        assert "broker" in problem["detail"]
    # The publisher reconnects by itself; a later request goes through.
    wait_for(lambda: gateway.post_generation({"prompt": "after"}).status_code == 202, timeout=60, interval=0.5,
             message="a 202 after the broker restarted")
    prompts = [event.data["prompt"] for event in queued_events(rabbitmq_url)]
    assert "while the broker is down" not in prompts and "after" in prompts
    # Leave the shared broker as found: after a restart, recovering every vhost's quorum queues can keep
    # management commands (add_vhost, used by the next test's fixture) failing for a while.
    wait_for(management_works, timeout=120, interval=1, message="rabbitmqctl add_vhost working again")


def management_works() -> bool:
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    created = rabbitmqctl("add_vhost", probe, check=False).returncode == 0
    rabbitmqctl("delete_vhost", probe, check=False)
    return created
