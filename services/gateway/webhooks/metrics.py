"""Prometheus metrics of webhook delivery, per subscription (the deliverer's PROBE_PORT ``/metrics``).

A label per subscription: their number is bounded (GATEWAY_MAX_SUBSCRIPTIONS_PER_KEY per key).
"""
from __future__ import annotations

from prometheus_client import Counter, Gauge

from services.gateway.webhooks.records import Outcome

ATTEMPTS = Counter("webhook_attempts_total", "webhook delivery attempts", ["subscription", "outcome"])
FAILURES = Counter("webhook_failures_total", "webhook delivery attempts that did not get a 2xx", ["subscription"])
LAG = Gauge("webhook_delivery_lag_seconds", "seconds from recording an event to its delivery, the latest delivery",
            ["subscription"], multiprocess_mode="mostrecent")


def observe(subscription_id: str, outcome: Outcome, lag_seconds: float | None) -> None:
    ATTEMPTS.labels(subscription_id, outcome.kind).inc()
    if outcome.kind != "delivered":
        FAILURES.labels(subscription_id).inc()
    elif lag_seconds is not None:
        LAG.labels(subscription_id).set(lag_seconds)
