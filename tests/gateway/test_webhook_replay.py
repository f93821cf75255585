"""Replays (services/gateway/replay.py): a final delivery sent again, one or a range, with its original id."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks.webhooks import Webhook

from services.common.schemas import RECIPE_CREATED
from services.gateway.webhooks.records import PENDING_DELIVERY, Outcome, RetryPolicy, after_attempt, replayed
from tests.gateway.client import GatewayClient, assert_problem
from tests.gateway.test_webhooks import deliveries, recipe_events
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver

KEY_A, KEY_B = "key-a", "key-b"


@pytest.fixture
def quick_deliverer(start_service, gateway_env):
    """Gives up after a second, so a failing receiver's delivery is soon final."""
    return start_service("services.gateway", {**gateway_env, "WEBHOOK_GIVE_UP_SECONDS": "1"}, "deliver",
                         name="deliverer")


def final(gateway, subscription, count: int) -> dict[str, dict]:
    """The subscription's delivery log by event id, once ``count`` of them are final."""
    log = wait_for(lambda: [d for d in deliveries(gateway, subscription) if d["status"] != PENDING_DELIVERY][
        count - 1:] and deliveries(gateway, subscription), timeout=30, message=f"{count} final deliveries")
    return {d["event_id"]: d for d in log}


def test_a_delivered_delivery_retried_arrives_again_with_its_original_webhook_id(gateway, deliverer, publish):
    with WebhookReceiver() as receiver:
        subscription = gateway.subscribe(receiver.url, [RECIPE_CREATED])
        [event] = recipe_events()[:1]
        publish([event])
        [delivery] = final(gateway, subscription, 1).values()
        response = gateway.post(f"/v1/subscriptions/{subscription['id']}/deliveries/{delivery['id']}/retry")
        assert response.status_code == 202, response.text
        wait_for(lambda: receiver.count() == 2, timeout=30, message="the delivery sent again")
        assert [headers["webhook-id"] for headers, _ in receiver.deliveries] == [event.id, event.id]
        assert receiver.deliveries[0][1] == receiver.deliveries[1][1]
        for headers, body in receiver.deliveries:
            Webhook(subscription["secret"]).verify(body, headers)


def test_a_failed_delivery_retried_once_the_receiver_is_back_is_delivered(gateway, quick_deliverer, publish):
    with WebhookReceiver(always_fail=True) as receiver:
        subscription = gateway.subscribe(receiver.url, [RECIPE_CREATED])
        [event] = recipe_events()[:1]
        publish([event])
        [failed] = final(gateway, subscription, 1).values()
        assert failed["status"] == "failed"
        receiver.set_failing(False)
        gateway.post(f"/v1/subscriptions/{subscription['id']}/deliveries/{failed['id']}/retry")
        wait_for(lambda: receiver.count() == 1, timeout=30, message="the failed delivery, retried")
        assert receiver.deliveries[0][0]["webhook-id"] == event.id
        assert final(gateway, subscription, 1)[event.id]["status"] == "delivered"


def test_a_replay_since_a_time_resends_the_failed_deliveries_or_with_all_every_final_one(
        gateway, quick_deliverer, publish):
    since = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    with WebhookReceiver() as receiver:
        subscription = gateway.subscribe(receiver.url, [RECIPE_CREATED])
        first, second = (recipe_events(recipe_id=f"soup-{i:08d}")[0] for i in range(2))
        publish([first])
        final(gateway, subscription, 1)
        receiver.set_failing(True)
        publish([second])
        assert final(gateway, subscription, 2)[second.id]["status"] == "failed"
        receiver.set_failing(False)
        replay = f"/v1/subscriptions/{subscription['id']}/replay"
        assert gateway.post(replay, json={"since": since, "status": "failed"}).json()["replayed"] == 1
        wait_for(lambda: receiver.count() == 2, timeout=30, message="the failed one replayed")
        final(gateway, subscription, 2)
        assert gateway.post(replay, json={"since": since, "status": "all"}).json()["replayed"] == 2
        wait_for(lambda: receiver.count() == 4, timeout=30, message="both replayed")
        later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
        final(gateway, subscription, 2)
        assert gateway.post(replay, json={"since": later, "status": "all"}).json()["replayed"] == 0
    ids = [headers["webhook-id"] for headers, _ in receiver.deliveries]
    assert ids[:2] == [first.id, second.id] and sorted(ids[2:]) == sorted([first.id, second.id])


def test_a_pending_delivery_cannot_be_retried_and_an_unknown_one_is_a_404(gateway, mongo_db):
    subscription = gateway.subscribe("http://127.0.0.1:9/hooks", [RECIPE_CREATED])
    now = datetime.now(timezone.utc)
    mongo_db.webhook_deliveries.insert_one({"_id": f"{subscription['id']}:ev-1", "subscription_id": subscription["id"],
                                            "status": PENDING_DELIVERY, "created_at": now, "next_attempt_at": now})
    base = f"/v1/subscriptions/{subscription['id']}/deliveries"
    assert_problem(gateway.post(f"{base}/{subscription['id']}:ev-1/retry"), 409)
    assert_problem(gateway.post(f"{base}/{subscription['id']}:ev-2/retry"), 404)


def test_another_key_can_neither_retry_nor_replay_a_subscriptions_deliveries(launch_gateway, mongo_db):
    key_a = launch_gateway(api_key=KEY_A, GATEWAY_API_KEYS=f"{KEY_A},{KEY_B}")
    key_b = GatewayClient(key_a.base_url, api_key=KEY_B)
    subscription = key_a.subscribe("http://127.0.0.1:9/hooks", [RECIPE_CREATED])
    delivery_id = f"{subscription['id']}:ev-1"
    now = datetime.now(timezone.utc)
    mongo_db.webhook_deliveries.insert_one({"_id": delivery_id, "subscription_id": subscription["id"],
                                            "status": "failed", "created_at": now, "next_attempt_at": None})
    assert_problem(key_b.post(f"/v1/subscriptions/{subscription['id']}/deliveries/{delivery_id}/retry"), 404)
    assert_problem(key_b.post(f"/v1/subscriptions/{subscription['id']}/replay", json={"since": now.isoformat()}),
                   404)
    assert mongo_db.webhook_deliveries.find_one({"_id": delivery_id})["status"] == "failed"
    key_b.close()


def test_a_replayed_record_is_given_up_counting_from_the_replay_not_the_first_recording():
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    record = {"_id": "s:e", "status": "failed", "attempts": 9, "created_at": created, "next_attempt_at": None}
    replay_time = created + timedelta(days=2)
    again = replayed(record, replay_time)
    assert (again["status"], again["next_attempt_at"], again["replays"]) == (PENDING_DELIVERY, replay_time, 1)
    after = after_attempt(again, Outcome.failed("HTTP 500", 500), replay_time + timedelta(seconds=1),
                          RetryPolicy(give_up_seconds=3600, max_backoff=60))
    assert after["status"] == PENDING_DELIVERY and after["attempts"] == 10
