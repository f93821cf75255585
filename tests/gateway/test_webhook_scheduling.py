"""Webhook deliveries are scheduled from durable records: a dead target never holds up the queue or others."""
from __future__ import annotations

import random

import pika
import pytest

from services.common import topology
from services.common.schemas import RECIPE_CREATED
from services.gateway.webhooks.records import DEFAULT_RETRY_SCHEDULE, RetryPolicy, retry_delay
from tests.gateway.test_webhooks import deliveries, recipe_events
from tests.support.broker import get_all
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver

PER_TARGET = 4  # WEBHOOK_ATTEMPTS_PER_TARGET's default: attempts in flight per subscription


def many_created_events(count: int):
    return [recipe_events(generation_id=f"gen-{i}", recipe_id=f"soup-{i:08d}")[0] for i in range(count)]


def test_a_slow_target_holds_a_few_threads_and_never_delays_a_healthy_subscriber(
        gateway, deliverer, publish):
    with WebhookReceiver(delay_seconds=1.5) as slow, WebhookReceiver() as healthy:
        gateway.subscribe(slow.url, [RECIPE_CREATED])
        gateway.subscribe(healthy.url, [RECIPE_CREATED])
        events = many_created_events(40)
        publish(events)
        wait_for(lambda: healthy.count() == 40, timeout=30, message="all 40 deliveries to the healthy subscriber")
        assert slow.count() < 40  # the healthy subscriber did not wait for the slow one
        wait_for(lambda: slow.count() == 40, timeout=60, message="all 40 deliveries to the slow subscriber")
        assert slow.event_ids() == healthy.event_ids() == {e.id for e in events}
        assert slow.most_at_once == PER_TARGET  # in parallel, but never more than a few threads at once


def test_the_attempts_in_flight_per_subscription_are_webhook_attempts_per_target(
        start_service, gateway_env, gateway, publish):
    start_service("services.gateway", {**gateway_env, "WEBHOOK_ATTEMPTS_PER_TARGET": "2"}, "deliver", name="deliverer")
    with WebhookReceiver(delay_seconds=0.5) as slow:
        gateway.subscribe(slow.url, [RECIPE_CREATED])
        publish(many_created_events(8))
        wait_for(lambda: slow.count() == 8, timeout=60, message="all 8 deliveries to the slow subscriber")
    assert slow.most_at_once == 2


def test_pending_deliveries_survive_a_killed_deliverer(start_service, gateway_env, gateway, publish):
    deliverer = start_service("services.gateway", gateway_env, "deliver", name="deliverer")
    with WebhookReceiver(fail_first=12) as receiver:
        subscription = gateway.subscribe(receiver.url, [RECIPE_CREATED])
        events = many_created_events(4)
        publish(events)
        wait_for(lambda: receiver.attempts >= 5, timeout=30, message="failing attempts under way")
        deliverer.kill()  # SIGKILL: its queue message was acked, the pending records are all that is left
        assert receiver.count() < 4
        start_service("services.gateway", gateway_env, "deliver", name="deliverer-restarted")
        wait_for(lambda: receiver.count() == 4, timeout=60, message="every event after the restart")
    assert receiver.event_ids() == {e.id for e in events}
    log = wait_for(lambda: [d for d in deliveries(gateway, subscription) if d["status"] == "delivered"][3:] and
                   deliveries(gateway, subscription), timeout=10, message="delivery log")
    assert {d["status"] for d in log} == {"delivered"}


@pytest.mark.parametrize("attempts", [1, 2, 5, 7])
def test_the_retry_delay_follows_the_schedule_with_jitter_up_to_the_cap(attempts):
    rng = random.Random(attempts)
    policy = RetryPolicy(max_backoff=20000.0)
    scheduled = min(20000.0, DEFAULT_RETRY_SCHEDULE[attempts])
    delays = [retry_delay(attempts, policy, rng=rng) for _ in range(50)]
    assert all(scheduled <= delay <= min(20000.0, scheduled * 1.1) for delay in delays)
    assert len(set(delays)) > 1 or scheduled == 20000.0  # jittered (unless capped)


def test_an_undecodable_message_is_dead_lettered_with_its_reason_and_the_batch_delivered(
        gateway, deliverer, publish, rabbitmq_url):
    with WebhookReceiver() as receiver:
        gateway.subscribe(receiver.url, [RECIPE_CREATED])
        connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
        try:
            connection.channel().basic_publish(topology.EXCHANGE, RECIPE_CREATED, b"\xff not json",
                                               pika.BasicProperties(message_id="poison-1", delivery_mode=2))
        finally:
            connection.close()
        events = many_created_events(3)
        publish(events)
        wait_for(lambda: receiver.count() == 3, timeout=30, message="the valid events delivered")
    dead = wait_for(lambda: get_all(rabbitmq_url, topology.GATEWAY_WEBHOOKS.dead_letter_queue) or None, timeout=30)
    assert [props.message_id for props, _ in dead] == ["poison-1"]
    assert "not JSON" in dead[0][0].headers[topology.REJECTION_REASON_HEADER]
