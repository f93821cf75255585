"""Secret rotation (services/gateway/rotation.py): both secrets sign during the overlap, then only the new one."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.common.schemas import RECIPE_CREATED
from services.gateway.webhooks.signing import new_secret, previous_secrets, rotated, webhook_headers
from tests.gateway.client import GatewayClient, assert_problem
from tests.gateway.test_webhooks import recipe_events
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_a_rotation_answers_a_new_secret_once(gateway):
    created = gateway.subscribe("http://127.0.0.1:9/hooks", [RECIPE_CREATED])
    response = gateway.post(f"/v1/subscriptions/{created['id']}/rotate-secret")
    assert response.status_code == 200, response.text
    rotation = response.json()
    assert rotation["secret"].startswith("whsec_") and rotation["secret"] != created["secret"]
    expires = datetime.fromisoformat(rotation["previous_secret_expires_at"])
    assert timedelta(hours=23) < expires - datetime.now(timezone.utc) <= timedelta(hours=24)  # the default
    assert "secret" not in gateway.get(f"/v1/subscriptions/{created['id']}").json()


def test_during_the_overlap_a_delivery_verifies_with_the_old_and_with_the_new_secret(gateway, deliverer, publish):
    with WebhookReceiver() as receiver:
        subscription = gateway.subscribe(receiver.url, [RECIPE_CREATED])
        new = gateway.post(f"/v1/subscriptions/{subscription['id']}/rotate-secret").json()["secret"]
        publish(recipe_events()[:1])
        wait_for(lambda: receiver.count() == 1, timeout=30, message="the delivery")
    [(headers, body)] = receiver.deliveries
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(subscription["secret"]).verify(body, headers)
    Webhook(new).verify(body, headers)


def test_after_the_overlap_only_the_new_secret_verifies(launch_gateway, deliverer, publish):
    gateway = launch_gateway(WEBHOOK_ROTATION_OVERLAP="0.5")
    with WebhookReceiver() as receiver:
        subscription = gateway.subscribe(receiver.url, [RECIPE_CREATED])
        rotation = gateway.post(f"/v1/subscriptions/{subscription['id']}/rotate-secret").json()
        expires = datetime.fromisoformat(rotation["previous_secret_expires_at"])
        wait_for(lambda: datetime.now(timezone.utc) > expires, timeout=5, message="the overlap over")
        publish(recipe_events()[:1])
        wait_for(lambda: receiver.count() == 1, timeout=30, message="the delivery")
    [(headers, body)] = receiver.deliveries
    Webhook(rotation["secret"]).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(subscription["secret"]).verify(body, headers)


def test_another_key_cannot_rotate_a_subscriptions_secret(launch_gateway, mongo_db):
    key_a = launch_gateway(api_key="key-a", GATEWAY_API_KEYS="key-a,key-b")
    key_b = GatewayClient(key_a.base_url, api_key="key-b")
    created = key_a.subscribe("http://127.0.0.1:9/hooks", [RECIPE_CREATED])
    assert_problem(key_b.post(f"/v1/subscriptions/{created['id']}/rotate-secret"), 404)
    assert mongo_db.subscriptions.find_one({"_id": created["id"]})["secret"] == created["secret"]
    key_b.close()


def test_a_second_rotation_within_the_overlap_drops_the_oldest_secret():
    first, second, third = new_secret(), new_secret(), new_secret()
    once = {"secret": first}
    once.update(rotated(once, second, NOW, NOW + timedelta(hours=24)))
    twice = {**once, **rotated(once, third, NOW + timedelta(hours=1), NOW + timedelta(hours=25))}
    assert twice["secret"] == third and previous_secrets(twice, NOW + timedelta(hours=2)) == [second]
    assert previous_secrets(twice, NOW + timedelta(hours=25)) == []


def test_the_signature_header_holds_one_signature_per_secret_in_order():
    old, new = new_secret(), new_secret()
    headers = webhook_headers(new, "evt-1", 1_700_000_000, b"{}", also=[old])
    assert headers["webhook-signature"] == " ".join(
        webhook_headers(key, "evt-1", 1_700_000_000, b"{}")["webhook-signature"] for key in (new, old))
