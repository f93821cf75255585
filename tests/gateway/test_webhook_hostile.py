"""Hostile subscribers cannot hold the deliverer: a deadline per attempt, a capped response body, a guarded
outcome, and claims fair per subscription (a black hole with a backlog never delays a healthy subscriber)."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from pymongo import MongoClient

from services.common.schemas import RECIPE_CREATED
from services.gateway.mongo import GatewayStore
from services.gateway.webhooks.records import PENDING_DELIVERY, claim_plan
from tests.gateway.test_webhook_scheduling import many_created_events
from tests.gateway.test_webhooks import deliveries
from tests.support.hostile_targets import HostileTarget
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver


def test_a_subscriber_dripping_its_answer_is_cut_off_at_the_attempt_deadline(gateway, deliverer, publish):
    with HostileTarget("drip", interval=0.3) as drip:  # every read returns well within the 2 s timeout
        subscription = gateway.subscribe(drip.url, [RECIPE_CREATED])
        publish(many_created_events(1))
        [log] = wait_for(lambda: [d for d in deliveries(gateway, subscription) if d["attempts"] >= 1],
                         timeout=30, message="an attempt that ended")
        assert "deadline" in log["last_error"] and log["status"] == "delivering"  # to be retried
        wait_for(lambda: drip.counts()[1] >= 1, timeout=10, message="the dripping connection dropped")


def test_an_endless_200_body_is_read_up_to_a_cap_and_the_connection_dropped(gateway, deliverer, publish):
    with HostileTarget("endless") as endless:
        subscription = gateway.subscribe(endless.url, [RECIPE_CREATED])
        publish(many_created_events(1))
        [log] = wait_for(lambda: [d for d in deliveries(gateway, subscription) if d["status"] == "delivered"],
                         timeout=30, message="the delivery recorded")
        assert log["last_status_code"] == 200 and log["attempts"] == 1
        wait_for(lambda: endless.counts()[1] == 1, timeout=10, message="the endless body dropped by the sender")


def test_a_black_hole_with_a_backlog_never_delays_a_healthy_subscriber(start_service, gateway_env, gateway,
                                                                      publish, mongo_db):
    # Give-up far away: the black hole's backlog stays due for the whole test.
    start_service("services.gateway", {**gateway_env, "WEBHOOK_GIVE_UP_SECONDS": "300"}, "deliver")
    with HostileTarget("black_hole") as black_hole, WebhookReceiver() as healthy:
        gateway.subscribe(black_hole.url, [RECIPE_CREATED])
        publish(many_created_events(300))
        wait_for(lambda: mongo_db.webhook_deliveries.count_documents({}) == 300, timeout=60,
                 message="the black hole's backlog recorded")
        wait_for(lambda: black_hole.counts()[0] >= 4, timeout=30, message="the black hole holding attempts")
        gateway.subscribe(healthy.url, [RECIPE_CREATED])
        later = many_created_events(5)
        publish(later)
        # Generous: before claims were fair, the backlog (older, always due) came first for minutes.
        wait_for(lambda: healthy.count() == 5, timeout=30, message="the healthy subscriber's deliveries")
        assert healthy.event_ids() == {event.id for event in later}


def test_an_attempt_whose_lease_expired_cannot_overwrite_the_outcome_of_the_lease_holder(
        mongo_client: MongoClient, mongo_db_name: str):
    store = GatewayStore(mongo_client, mongo_db_name).webhooks
    now = datetime.now(timezone.utc)
    store.add_deliveries([{"_id": "sub-1:evt-1", "subscription_id": "sub-1", "status": PENDING_DELIVERY,
                           "attempts": 0, "created_at": now, "next_attempt_at": now, "lease_until": None}])
    stale = store.lease_delivery("sub-1:evt-1", now, now + timedelta(seconds=1))
    later = now + timedelta(seconds=2)  # the first lease expired (a paused process): another one claims it
    holder = store.lease_delivery("sub-1:evt-1", later, later + timedelta(seconds=30))
    assert holder is not None and holder["lease_token"] != stale["lease_token"]
    assert store.save_delivery({**holder, "status": "delivered", "attempts": 1, "lease_until": None})
    assert not store.save_delivery({**stale, "status": PENDING_DELIVERY, "attempts": 1, "last_error": "HTTP 500",
                                    "next_attempt_at": later, "lease_until": None})
    saved = store.deliveries.find_one({"_id": "sub-1:evt-1"})
    assert saved["status"] == "delivered" and saved.get("last_error") is None


def test_claims_go_round_robin_over_subscriptions_with_free_slots():
    plan = claim_plan(["hole", "slow", "ok"], Counter({"hole": 4, "slow": 1}), per_target=4, free=6)
    assert Counter(plan) == Counter({"slow": 3, "ok": 3})  # the full one gets none, the rest share
    assert plan[:2] in (["slow", "ok"], ["ok", "slow"])  # one each before anyone gets a second


def test_the_claim_plan_is_bounded_by_the_free_threads():
    assert claim_plan(["a", "b", "c"], Counter(), per_target=4, free=2) == ["a", "b"]
    assert claim_plan(["a"], Counter(), per_target=4, free=0) == []
