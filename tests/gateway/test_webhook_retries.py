"""Retries as a subscriber sees them: the configured schedule, Retry-After honoured, every attempt in the
delivery log with the next one planned, metrics per subscription, and https required in production."""
from __future__ import annotations

from datetime import datetime

import requests
from prometheus_client.parser import text_string_to_metric_families

from services.common.schemas import RECIPE_CREATED
from tests.gateway.client import assert_problem
from tests.gateway.test_webhook_scheduling import many_created_events
from tests.gateway.test_webhooks import deliveries
from tests.support.mongo import free_port
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver


def gaps(receiver: WebhookReceiver) -> list[float]:
    times = [at for at, _body, _status in receiver.requests]
    return [later - earlier for earlier, later in zip(times, times[1:])]


def test_a_failing_delivery_is_attempted_on_the_configured_schedule_then_failed(
        start_service, gateway_env, gateway, publish):
    start_service("services.gateway", {**gateway_env, "WEBHOOK_RETRY_SCHEDULE": "0,1,2",
                                       "WEBHOOK_MAX_BACKOFF_SECONDS": "60"}, "deliver", name="deliverer")
    with WebhookReceiver(always_fail=True, failure_status=302) as redirecting:  # a 3xx is a failure
        subscription = gateway.subscribe(redirecting.url, [RECIPE_CREATED])
        publish(many_created_events(1))
        [failed] = wait_for(lambda: [d for d in deliveries(gateway, subscription) if d["status"] == "failed"],
                            timeout=30, message="the delivery failed after its schedule")
        assert failed["attempts"] == len(redirecting.requests) == 3
        first, second = gaps(redirecting)
        assert 1 <= first < 1.1 + 0.5 and 2 <= second < 2.2 + 0.5  # the schedule, up to 10 % jitter, never early
        assert [a["status_code"] for a in failed["attempt_log"]] == [302, 302, 302]
        assert failed["next_attempt_at"] is None


def test_retry_after_is_honoured_and_the_log_shows_each_attempt_and_the_next_planned(
        start_service, gateway_env, gateway, publish):
    start_service("services.gateway", {**gateway_env, "WEBHOOK_RETRY_SCHEDULE": "0,0.1",
                                       "WEBHOOK_MAX_BACKOFF_SECONDS": "60"}, "deliver", name="deliverer")
    with WebhookReceiver(fail_first=1, failure_status=503, retry_after="3") as busy:
        subscription = gateway.subscribe(busy.url, [RECIPE_CREATED])
        publish(many_created_events(1))
        [waiting] = wait_for(lambda: [d for d in deliveries(gateway, subscription) if d["attempts"] == 1],
                             timeout=30, message="the first attempt logged")
        [attempt] = waiting["attempt_log"]
        assert (waiting["status"], attempt["status_code"], attempt["error"]) == ("delivering", 503, "HTTP 503")
        planned = datetime.fromisoformat(waiting["next_attempt_at"]) - datetime.fromisoformat(attempt["at"])
        assert planned.total_seconds() >= 3  # Retry-After: 3, not the schedule's 0.1 s
        wait_for(lambda: busy.count() == 1, timeout=30, message="the retry delivered")
        [gap] = gaps(busy)
        assert gap >= 3
        [delivered] = wait_for(lambda: [d for d in deliveries(gateway, subscription) if d["status"] == "delivered"],
                               timeout=10, message="the delivery logged")
        assert [a["status_code"] for a in delivered["attempt_log"]] == [503, 204]
        assert all(a["duration_ms"] >= 0 and a["at"] for a in delivered["attempt_log"])
        assert delivered["next_attempt_at"] is None


def test_the_deliverer_counts_attempts_failures_and_lag_per_subscription(start_service, gateway_env, gateway,
                                                                         publish):
    probe_port = free_port()
    start_service("services.gateway", {**gateway_env, "PROBE_PORT": str(probe_port)}, "deliver", name="deliverer")
    with WebhookReceiver(fail_first=1) as receiver:
        subscription = gateway.subscribe(receiver.url, [RECIPE_CREATED])
        publish(many_created_events(1))
        wait_for(lambda: receiver.count() == 1, timeout=30, message="the delivery after one failure")
        sub = subscription["id"]

        def scraped() -> str:
            try:
                text = requests.get(f"http://127.0.0.1:{probe_port}/metrics", timeout=5).text
            except requests.RequestException:
                return ""
            return text if f'webhook_delivery_lag_seconds{{subscription="{sub}"' in text else ""

        metrics = {(sample.name, sample.labels.get("outcome")): sample.value
                   for family in text_string_to_metric_families(wait_for(scraped, timeout=10, message="the metrics"))
                   for sample in family.samples if sample.labels.get("subscription") == sub}
    assert metrics[("webhook_attempts_total", "failed")] == metrics[("webhook_attempts_total", "delivered")] == 1
    assert metrics[("webhook_failures_total", None)] == 1
    assert metrics[("webhook_delivery_lag_seconds", None)] > 0


def test_plain_http_urls_are_refused_unless_webhook_allow_http_is_set(launch_gateway):
    gateway = launch_gateway(WEBHOOK_ALLOW_HTTP="false")
    problem = assert_problem(gateway.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/hooks",
                                                                      "event_types": ["recipe.*"]}), 400)
    assert "https" in problem["detail"] and "WEBHOOK_ALLOW_HTTP" in problem["detail"]
