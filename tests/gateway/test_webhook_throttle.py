"""A subscription's ``rate_limit``: at most that many requests per second, whichever deliverer sends them."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.common.schemas import RECIPE_CREATED
from services.gateway.webhooks.records import throttle_slot
from tests.gateway.test_webhook_scheduling import many_created_events
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver

RATE, EVENTS = 4.0, 12
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_a_rate_limited_subscription_is_sent_at_most_its_rate_by_two_deliverers(
        start_service, gateway_env, gateway, publish):
    for name in ("deliverer-1", "deliverer-2"):
        start_service("services.gateway", gateway_env, "deliver", name=name)
    with WebhookReceiver() as throttled, WebhookReceiver() as free:
        created = gateway.post("/v1/subscriptions", json={"url": throttled.url, "event_types": [RECIPE_CREATED],
                                                          "rate_limit": RATE}).json()
        assert created["rate_limit"] == RATE
        gateway.subscribe(free.url, [RECIPE_CREATED])
        publish(many_created_events(EVENTS))
        wait_for(lambda: free.count() == EVENTS, timeout=30, message="the unthrottled subscriber's deliveries")
        assert throttled.count() < EVENTS  # held back by its rate, not by the deliverers
        wait_for(lambda: throttled.count() == EVENTS, timeout=30, message="every throttled delivery")
    # The slots are 1 / RATE apart; an arrival adds its attempt's own latency (lease, thread, connect), so
    # any RATE + 1 consecutive requests span a second less that jitter, and all of them (EVENTS - 1) / RATE.
    arrived, jitter = sorted(throttled.arrived), 0.25
    window = int(RATE)
    assert min(arrived[i + window] - arrived[i] for i in range(len(arrived) - window)) >= 1.0 - jitter
    assert arrived[-1] - arrived[0] >= (EVENTS - 1) / RATE - jitter


def test_a_slot_is_free_when_none_was_taken_or_it_is_due_and_the_next_is_one_interval_later():
    assert throttle_slot(None, NOW, rate=4) == (NOW + timedelta(seconds=0.25), 0.0)
    assert throttle_slot(NOW - timedelta(seconds=3), NOW, rate=4) == (NOW + timedelta(seconds=0.25), 0.0)


def test_a_slot_not_yet_due_is_refused_with_the_time_to_wait():
    assert throttle_slot(NOW + timedelta(seconds=0.1), NOW, rate=4) == (None, 0.1)
