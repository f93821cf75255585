"""A subscription is disabled by a 410 Gone or by failing for WEBHOOK_DISABLE_AFTER, announced once (on the
broker and to its URL), gets nothing while disabled, and POST /v1/subscriptions/{id}/enable turns it back on."""
from __future__ import annotations

import json

from standardwebhooks.webhooks import Webhook

from services.common import topology
from services.common.events import decode
from services.common.schemas import RECIPE_CREATED, SUBSCRIPTION_DISABLED
from tests.gateway.client import assert_problem
from tests.gateway.test_webhook_scheduling import many_created_events
from tests.gateway.test_webhooks import deliveries
from tests.support.asyncapi import COMMITTED, payload_errors
from tests.support.broker import bind_outside_queue, get_all, unsettled
from tests.support.events_doc import documented_id
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver

NOTICES = "outside.subscription-notices"


def notices(rabbitmq_url: str, seen: list) -> list:
    seen.extend(decode(body) for _props, body in get_all(rabbitmq_url, NOTICES))
    return seen


def test_a_410_gone_disables_the_subscription_at_once_and_announces_it_once(gateway, deliverer, publish,
                                                                            rabbitmq_url):
    bind_outside_queue(rabbitmq_url, NOTICES, "subscription.#")
    with WebhookReceiver(always_fail=True, failure_status=410) as gone:
        subscription = gateway.subscribe(gone.url, [RECIPE_CREATED])
        publish(many_created_events(1))
        seen: list = []
        [notice] = wait_for(lambda: notices(rabbitmq_url, seen), timeout=30, message="subscription.disabled")
        assert notice.type == SUBSCRIPTION_DISABLED and notice.id == documented_id(notice)
        assert notice.data["subscription_id"] == subscription["id"] and "410" in notice.data["reason"]
        shown = gateway.get(f"/v1/subscriptions/{subscription['id']}").json()
        assert (shown["status"], shown["disabled_reason"]) == ("disabled", notice.data["reason"])
        # One attempt of the event (no retry after a 410), then the notice, once, signed, to the same URL.
        wait_for(lambda: len(gone.requests) == 2, timeout=10, message="the notice sent to the URL")
        first, sent = (json.loads(body) for _at, body, _status in gone.requests)
        assert first["type"] == RECIPE_CREATED and sent["type"] == SUBSCRIPTION_DISABLED and sent["id"] == notice.id
        assert payload_errors(json.loads(COMMITTED.read_text()), sent) == []  # as the AsyncAPI document says
        log = {d["event_type"]: d for d in deliveries(gateway, subscription)}
        assert (log[RECIPE_CREATED]["status"], log[RECIPE_CREATED]["attempts"]) == ("failed", 1)
        assert log[SUBSCRIPTION_DISABLED]["attempts"] == 1  # the notice: one attempt, in the delivery log
    assert notices(rabbitmq_url, seen) == [notice]  # announced once


def test_a_subscription_failing_for_the_disable_period_is_disabled_gets_nothing_and_is_enabled_again(
        start_service, gateway_env, gateway, publish, rabbitmq_url):
    bind_outside_queue(rabbitmq_url, NOTICES, "subscription.#")
    start_service("services.gateway", {**gateway_env, "WEBHOOK_DISABLE_AFTER": "1.5"}, "deliver", name="deliverer")
    with WebhookReceiver(always_fail=True) as failing:
        subscription = gateway.subscribe(failing.url, [RECIPE_CREATED])
        failing.secret = subscription["secret"]
        publish(many_created_events(3))
        seen: list = []
        [notice] = wait_for(lambda: notices(rabbitmq_url, seen), timeout=30, message="subscription.disabled")
        assert "WEBHOOK_DISABLE_AFTER" in notice.data["reason"]
        assert gateway.get(f"/v1/subscriptions/{subscription['id']}").json()["status"] == "disabled"
        # The pending deliveries end (failed, to replay), and the notice went to the URL once.
        wait_for(lambda: {d["status"] for d in deliveries(gateway, subscription)} == {"failed"}, timeout=30,
                 message="every delivery final")
        notice_requests = [body for _at, body, _status in failing.requests
                           if json.loads(body)["type"] == SUBSCRIPTION_DISABLED]
        assert len(notice_requests) == 1
        failing.always_fail = False
        later = many_created_events(1)
        publish(later)  # while disabled: not recorded, never sent
        wait_for(lambda: unsettled(rabbitmq_url, topology.GATEWAY_WEBHOOKS.name) == 0, timeout=30,
                 message="the event handled by the deliverer's consumer")
        enabled = gateway.post(f"/v1/subscriptions/{subscription['id']}/enable")
        assert enabled.status_code == 200
        assert (enabled.json()["status"], enabled.json()["disabled_reason"]) == ("enabled", None)
        publish(many_created_events(1))
        wait_for(lambda: failing.count() == 1, timeout=30, message="a delivery after enabling")
        [(headers, body)] = failing.deliveries
        Webhook(subscription["secret"]).verify(body, headers)
        assert json.loads(body)["id"] not in {event.id for event in later}


def test_enabling_a_missing_subscription_is_a_404(gateway):
    assert_problem(gateway.post("/v1/subscriptions/sub_missing/enable"), 404)
