"""A delivery record's next state after one attempt (services/gateway/webhooks/records.py): plain functions."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from services.gateway.webhooks.records import (PENDING_DELIVERY, Outcome, RetryPolicy, after_attempt, claim_fields,
                                               replayed)

CREATED = datetime(2026, 1, 1, tzinfo=timezone.utc)
GIVE_UP = 3600.0
POLICY = RetryPolicy(schedule=(0, 0.2, 0.4, 0.8) + (60.0,) * 40, give_up_seconds=GIVE_UP, max_backoff=60.0)


def pending(attempts: int = 0) -> dict:
    return {"_id": "sub-1:ev-1", "status": PENDING_DELIVERY, "attempts": attempts, "created_at": CREATED,
            **claim_fields(CREATED + timedelta(seconds=20), "t")}  # claimed: an attempt is under way


def next_state(record: dict, outcome: Outcome, after: float = 1.0) -> dict:
    return after_attempt(record, outcome, CREATED + timedelta(seconds=after), POLICY, rng=random.Random(7))


def test_a_2xx_answer_makes_the_record_delivered_and_final():
    record = next_state(pending(), Outcome.delivered(204))
    assert (record["status"], record["attempts"], record["last_status_code"], record["last_error"]) == \
        ("delivered", 1, 204, None)
    assert record["next_attempt_at"] is None and record["lease_until"] is None


def test_a_failed_attempt_is_pending_again_after_its_scheduled_delay_with_its_lease_released():
    record = next_state(pending(attempts=2), Outcome.failed("HTTP 503", 503))
    assert (record["status"], record["attempts"], record["last_status_code"], record["last_error"]) == \
        (PENDING_DELIVERY, 3, 503, "HTTP 503")
    wait = record["next_attempt_at"] - (CREATED + timedelta(seconds=1))
    assert timedelta(seconds=0.8) <= wait <= timedelta(seconds=0.88)  # the schedule's 4th delay, up to 10 % later
    assert record["lease_until"] is None


def test_a_retry_is_never_scheduled_past_the_give_up_time():
    record = next_state(pending(attempts=30), Outcome.failed("ConnectionRefusedError: refused"), after=GIVE_UP - 1)
    assert record["next_attempt_at"] == CREATED + timedelta(seconds=GIVE_UP)


def test_a_failed_attempt_after_the_give_up_time_makes_the_record_failed():
    record = next_state(pending(attempts=9), Outcome.failed("HTTP 500", 500), after=GIVE_UP)
    assert (record["status"], record["attempts"], record["last_error"]) == ("failed", 10, "HTTP 500")
    assert record["finished_at"] == CREATED + timedelta(seconds=GIVE_UP)


def test_a_refused_target_fails_the_record_at_once_with_the_reason():
    record = next_state(pending(), Outcome.refused("the subscription was deleted"))
    assert (record["status"], record["last_error"]) == ("failed", "target refused: the subscription was deleted")


def test_the_record_given_is_left_as_it_was():
    record = pending()
    next_state(record, Outcome.delivered(200))
    assert record == pending()


def test_a_replayed_delivery_gets_a_whole_new_schedule_counted_from_the_replay():
    short = RetryPolicy(schedule=(0, 5), give_up_seconds=GIVE_UP, max_backoff=60.0)
    record = pending()
    for at in (1.0, 7.0):  # the whole schedule fails: the delivery is final
        record = after_attempt(record, Outcome.failed("HTTP 500", 500), CREATED + timedelta(seconds=at), short)
    assert record["status"] == "failed"
    replayed_at = CREATED + timedelta(seconds=GIVE_UP * 2)  # past the first chain's give-up time too
    record = replayed(record, replayed_at)
    record = after_attempt(record, Outcome.failed("HTTP 500", 500), replayed_at + timedelta(seconds=1), short)
    assert (record["status"], record["attempts"], record["replays"]) == (PENDING_DELIVERY, 3, 1)
    assert record["next_attempt_at"] >= replayed_at + timedelta(seconds=6)  # the schedule's second delay
