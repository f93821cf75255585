"""The retry schedule, Retry-After, 410 Gone and when a subscription is disabled: pure rules of
services/gateway/webhooks/records.py, with the time given."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from services.common.config import ConfigError
from services.common.config import load_settings as load_options
from services.gateway.webhooks.records import (ATTEMPT_LOG_LIMIT, DEFAULT_RETRY_SCHEDULE, PENDING_DELIVERY, Outcome,
                                               RetryPolicy, after_attempt, retry_after_seconds, subscription_health)
from services.gateway.webhooks.targets import RefusedTarget, check_target

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
DAY = 86400.0


def pending(attempts: int = 0) -> dict:
    return {"_id": "sub-1:ev-1", "status": PENDING_DELIVERY, "attempts": attempts, "created_at": T0,
            "next_attempt_at": T0, "lease_until": None}


DEFAULT_POLICY = RetryPolicy()


def run_until_final(outcome: Outcome, policy: RetryPolicy = DEFAULT_POLICY) -> list[dict]:
    """Every state of one delivery whose every attempt comes to ``outcome``, each made when it is due."""
    states, record, rng = [], pending(), random.Random(1)
    while record["status"] == PENDING_DELIVERY:
        record = after_attempt(record, outcome, record["next_attempt_at"], policy, rng=rng)
        states.append(record)
    return states


def test_the_default_schedule_is_svix_s_eight_attempts():
    assert DEFAULT_RETRY_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    assert load_options({}).webhook_retry_schedule == DEFAULT_RETRY_SCHEDULE
    states = run_until_final(Outcome.failed("HTTP 500", 500))
    assert len(states) == 8 and states[-1]["status"] == "failed"
    waits = [(later["attempt_log"][-1]["at"] - earlier["attempt_log"][-1]["at"]).total_seconds()
             for earlier, later in zip(states, states[1:])]
    for wait, scheduled in zip(waits, DEFAULT_RETRY_SCHEDULE[1:]):
        assert scheduled <= wait <= scheduled * 1.1  # jittered, never early


def test_a_configured_schedule_is_a_list_of_delays_starting_at_zero():
    assert load_options({"WEBHOOK_RETRY_SCHEDULE": "0,1,2.5"}).webhook_retry_schedule == (0, 1, 2.5)
    assert len(run_until_final(Outcome.failed("HTTP 500", 500), RetryPolicy(schedule=(0, 1, 2.5)))) == 3
    for bad in ("5,10", "0,x", "0,-1"):
        with pytest.raises(ConfigError, match="WEBHOOK_RETRY_SCHEDULE"):
            load_options({"WEBHOOK_RETRY_SCHEDULE": bad})


def test_every_attempt_is_logged_with_its_time_status_duration_and_error():
    record = after_attempt(pending(), Outcome.failed("HTTP 503", 503, duration=0.25), T0 + timedelta(seconds=1),
                           RetryPolicy())
    record = after_attempt(record, Outcome.delivered(204, duration=0.5), T0 + timedelta(seconds=9), RetryPolicy())
    assert record["attempt_log"] == [
        {"at": T0 + timedelta(seconds=0.75), "status_code": 503, "duration_ms": 250.0, "error": "HTTP 503"},
        {"at": T0 + timedelta(seconds=8.5), "status_code": 204, "duration_ms": 500.0, "error": None}]


def test_the_attempt_log_keeps_the_latest_attempts_only():
    record = {**pending(), "attempt_log": [{"at": T0, "status_code": 500}] * ATTEMPT_LOG_LIMIT}
    record = after_attempt(record, Outcome.delivered(200), T0, RetryPolicy())
    assert len(record["attempt_log"]) == ATTEMPT_LOG_LIMIT and record["attempt_log"][-1]["status_code"] == 200


@pytest.mark.parametrize("header, seconds", [("120", 120.0), ("Thu, 01 Jan 2026 00:10:00 GMT", 600.0),
                                             ("Wed, 31 Dec 2025 23:00:00 GMT", 0.0), ("soon", None), ("\u00b2", None),
                                             (None, None)])
def test_retry_after_is_read_as_seconds_or_an_http_date(header, seconds):
    assert retry_after_seconds(header, T0) == seconds


def test_retry_after_lengthens_the_wait_within_the_bounds_never_shortens_it():
    policy = RetryPolicy(schedule=(0, 5, 300), max_backoff=3600.0)

    def wait_after_first(retry_after: float | None) -> float:
        record = after_attempt(pending(), Outcome.failed("HTTP 429", 429, retry_after=retry_after), T0, policy,
                               rng=random.Random(1))
        return (record["next_attempt_at"] - T0).total_seconds()

    assert wait_after_first(120) == 120  # longer than the schedule's 5 s: honoured
    assert 5 <= wait_after_first(1) <= 5.5  # shorter: the schedule's wait
    assert wait_after_first(10 * DAY) == 3600  # past WEBHOOK_MAX_BACKOFF_SECONDS: the cap


def test_a_3xx_is_a_failure_to_retry():
    record = after_attempt(pending(), Outcome.failed("HTTP 302", 302), T0, RetryPolicy())
    assert record["status"] == PENDING_DELIVERY and record["last_status_code"] == 302


def test_410_gone_fails_the_delivery_at_once_and_disables_the_subscription():
    record = after_attempt(pending(), Outcome.gone(0.1), T0, RetryPolicy())
    assert (record["status"], record["attempts"], record["last_status_code"]) == ("failed", 1, 410)
    health = subscription_health(Outcome.gone(), None, T0, disable_after=5 * DAY)
    assert (health.kind, health.reason) == ("disable", "the receiver answered 410 Gone")


def test_a_subscription_is_disabled_once_every_attempt_failed_for_the_disable_period():
    failed = Outcome.failed("HTTP 500", 500)
    assert subscription_health(failed, None, T0, 5 * DAY).kind == "failing"  # the failing period starts
    assert subscription_health(failed, T0, T0 + timedelta(days=4, hours=23), 5 * DAY).kind == "failing"
    health = subscription_health(failed, T0, T0 + timedelta(days=5), 5 * DAY)
    assert health.kind == "disable" and "WEBHOOK_DISABLE_AFTER" in (health.reason or "")


def test_one_success_ends_the_failing_period_and_a_refused_target_says_nothing():
    assert subscription_health(Outcome.delivered(200), T0, T0 + timedelta(days=9), 5 * DAY).kind == "healthy"
    assert subscription_health(Outcome.refused("deleted"), T0, T0 + timedelta(days=9), 5 * DAY).kind == "unchanged"


def test_plain_http_targets_are_refused_unless_webhook_allow_http_is_set():
    allow_http = load_options({}).webhook_allow_http
    public = lambda host, port: ["93.184.215.14"]  # noqa: E731 - a resolver that needs no DNS
    with pytest.raises(RefusedTarget, match="must be https"):
        check_target("http://example.com/hooks", allow_private=False, resolver=public, allow_http=allow_http)
    assert check_target("https://example.com/hooks", allow_private=False, resolver=public,
                        allow_http=allow_http)[0].scheme == "https"
    assert load_options({"WEBHOOK_ALLOW_HTTP": "true"}).webhook_allow_http is True
