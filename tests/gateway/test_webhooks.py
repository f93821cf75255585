"""Webhook subscriptions and Standard Webhooks deliveries of recipe events, with retries and give-up."""
from __future__ import annotations

import json

import pika
from standardwebhooks.webhooks import Webhook

from services.common import topology
from services.common.events import new_event
from services.common.schemas import RECIPE_COMPLETED, RECIPE_CREATED, RECIPE_INGREDIENT_ADDED, RECIPE_STEP_ADDED
from tests.gateway.client import assert_problem
from tests.support.webhooks import WebhookReceiver
from tests.support.broker import queue_depth
from tests.support.waiting import wait_for


def recipe_events(generation_id: str = "gen-1", recipe_id: str = "soup-1234abcd"):
    ref = {"generation_id": generation_id, "recipe_id": recipe_id}
    return [
        new_event(RECIPE_CREATED, "store", {**ref, "name": "Soup", "description": "Hot."}, subject=recipe_id),
        new_event(RECIPE_INGREDIENT_ADDED, "store", {**ref, "ingredient": "leek", "quantity": "2"}, subject=recipe_id),
        new_event(RECIPE_STEP_ADDED, "store", {**ref, "step_number": 1, "instructions": "Chop."}, subject=recipe_id),
        new_event(RECIPE_COMPLETED, "store", {**ref, "ingredient_count": 1, "step_count": 1}, subject=recipe_id),
    ]


def deliveries(gateway, subscription):
    return gateway.get(f"/v1/subscriptions/{subscription['id']}/deliveries").json()["items"]


def test_a_subscription_shows_its_secret_once(gateway):
    created = gateway.subscribe("http://127.0.0.1:9/hooks", ["recipe.completed"])
    assert created["secret"].startswith("whsec_")
    assert "secret" not in gateway.get(f"/v1/subscriptions/{created['id']}").json()
    listed = gateway.get("/v1/subscriptions").json()["items"]
    assert [s["id"] for s in listed] == [created["id"]] and "secret" not in listed[0]


def test_a_deleted_subscription_is_gone(gateway):
    created = gateway.subscribe("http://127.0.0.1:9/hooks")
    assert gateway.delete(f"/v1/subscriptions/{created['id']}").status_code == 204
    assert_problem(gateway.get(f"/v1/subscriptions/{created['id']}"), 404)
    assert_problem(gateway.delete(f"/v1/subscriptions/{created['id']}"), 404)


def test_unknown_event_types_are_a_400_problem(gateway):
    response = gateway.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/", "event_types": ["order.paid"]})
    assert_problem(response, 400)


def test_private_loopback_and_link_local_targets_are_refused(launch_gateway):
    gateway = launch_gateway(WEBHOOK_ALLOW_PRIVATE_TARGETS="false")
    for url in ("http://127.0.0.1:8080/hooks", "http://10.1.2.3/", "http://169.254.169.254/latest",
                "http://[::1]/", "http://localhost/"):
        problem = assert_problem(gateway.post("/v1/subscriptions", json={"url": url, "event_types": ["recipe.*"]}),
                                 400)
        assert "refused" in problem["detail"]


def test_every_recipe_event_arrives_signed_per_standard_webhooks(gateway, deliverer, publish):
    with WebhookReceiver() as everything, WebhookReceiver() as completions:
        all_events = gateway.subscribe(everything.url, ["recipe.*"])
        only_completed = gateway.subscribe(completions.url, [RECIPE_COMPLETED])
        events = recipe_events()
        publish(events)
        wait_for(lambda: everything.count() == 4 and completions.count() == 1, timeout=30, message="deliveries")
        for headers, body in everything.deliveries:
            Webhook(all_events["secret"]).verify(body, headers)  # the independent implementation
        assert sorted(h["webhook-id"] for h, _ in everything.deliveries) == sorted(e.id for e in events)
        [(headers, body)] = completions.deliveries
        Webhook(only_completed["secret"]).verify(body, headers)
        assert json.loads(body)["type"] == RECIPE_COMPLETED and headers["webhook-id"] == events[3].id
    log = wait_for(lambda: [d for d in deliveries(gateway, all_events) if d["status"] == "delivered"][3:] and
                   deliveries(gateway, all_events), timeout=10, message="delivery log")
    assert {d["event_id"] for d in log} == {e.id for e in events}


def test_a_receiver_answering_500_for_a_while_gets_every_event_after_retries(gateway, deliverer, publish):
    with WebhookReceiver(fail_first=6) as receiver:
        subscription = gateway.subscribe(receiver.url)
        events = recipe_events()
        publish(events)
        wait_for(lambda: receiver.count() == 4, timeout=60, message="every event after the failures")
        assert receiver.attempts >= 10
        for headers, body in receiver.deliveries:
            Webhook(subscription["secret"]).verify(body, headers)
    log = wait_for(lambda: [d for d in deliveries(gateway, subscription) if d["status"] == "delivered"][3:] and
                   deliveries(gateway, subscription), timeout=10, message="delivery log")
    assert sum(d["attempts"] for d in log) >= 10


def test_a_target_that_keeps_failing_is_given_up_without_holding_up_others(
        start_service, gateway_env, gateway, publish, rabbitmq_url):
    deliverer = start_service("services.gateway", {**gateway_env, "WEBHOOK_GIVE_UP_SECONDS": "2"}, "deliver",
                              name="deliverer")
    with WebhookReceiver(always_fail=True) as broken, WebhookReceiver() as healthy:
        dead = gateway.subscribe(broken.url, [RECIPE_CREATED])
        alive = gateway.subscribe(healthy.url, [RECIPE_CREATED])
        [event] = recipe_events()[:1]
        publish([event])
        wait_for(lambda: healthy.count() == 1, timeout=30, message="the healthy subscriber's delivery")
        [failed] = wait_for(lambda: [d for d in deliveries(gateway, dead) if d["status"] == "failed"],
                            timeout=30, message="the delivery given up")
        assert failed["event_id"] == event.id and failed["last_status_code"] == 500 and failed["attempts"] >= 2
        assert failed["event"]["id"] == event.id and failed["event"]["data"] == dict(event.data)  # the dead letter
        assert [d["status"] for d in deliveries(gateway, alive)] == ["delivered"]
    deliverer.kill()  # unacknowledged messages would go back to the queue now
    wait_for(lambda: consumers(rabbitmq_url) == 0, timeout=10, message="the deliverer's connection gone")
    assert queue_depth(rabbitmq_url, topology.GATEWAY_WEBHOOKS.name) == 0  # acked once every delivery was recorded


def consumers(url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(topology.GATEWAY_WEBHOOKS.name, passive=True).method.consumer_count
    finally:
        connection.close()


def test_a_redelivered_event_is_not_sent_again_to_a_subscriber_that_has_it(gateway, deliverer, publish):
    with WebhookReceiver() as first, WebhookReceiver() as later:
        gateway.subscribe(first.url, [RECIPE_CREATED])
        [event] = recipe_events()[:1]
        publish([event])
        wait_for(lambda: first.count() == 1, timeout=30, message="the first delivery")
        gateway.subscribe(later.url, [RECIPE_CREATED])
        publish([event])  # the same event id again, as after a crash or a replay
        wait_for(lambda: later.count() == 1, timeout=30, message="the new subscriber's delivery")
        assert first.count() == 1


def test_a_subscription_url_no_parser_can_read_is_a_400_problem_not_a_500(gateway):
    for url in ("https://[w+q&.1w", "http://[::1/hooks", "http://\ud800.example/", "https://\u00a9\udb3b\uddbch"):
        response = gateway.post("/v1/subscriptions", json={"url": url, "event_types": ["recipe.*"]})
        assert_problem(response, 400)
