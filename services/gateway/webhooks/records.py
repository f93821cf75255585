"""Delivery records and their state transitions: plain functions, no I/O.

A record is the dict stored in ``webhook_deliveries``; every function here
returns a new one (the caller saves it) and never changes the one it is given.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from services.common.events import CloudEvent
from services.gateway.validation import subscribing_types

# A delivery not yet final (then "delivered" or "failed"): due for an attempt at next_attempt_at.
PENDING_DELIVERY = "delivering"
FIRST_BACKOFF_SECONDS = 0.2


def retry_delay(attempts: int, max_backoff: float, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: exponential, capped, jittered.

    Jitter spreads the retries of many deliveries to one recovering target.
    """
    exponential = min(max_backoff, FIRST_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0))
    return exponential / 2 + (rng or random).uniform(0, exponential / 2)


def matches(subscription: Mapping[str, Any], event_type: str) -> bool:
    return any(entry in subscription["event_types"] for entry in subscribing_types(event_type))


def claim_plan(subscriptions: Sequence[str], in_flight: Mapping[str, int], per_target: int,
               free: int) -> list[str]:
    """Which subscriptions to claim a due delivery for, one entry per claim: round-robin in the given
    order (one each before anyone gets a second), none past its ``per_target`` slots, ``free`` at most."""
    room = {subscription: per_target - in_flight.get(subscription, 0) for subscription in subscriptions}
    plan: list[str] = []
    while len(plan) < free and any(left > 0 for left in room.values()):
        for subscription, left in room.items():
            if left > 0 and len(plan) < free:
                plan.append(subscription)
                room[subscription] = left - 1
    return plan


def new_record(subscription: Mapping[str, Any], event: CloudEvent, body: bytes, now: datetime) -> dict[str, Any]:
    return {
        "_id": f"{subscription['_id']}:{event.id}", "subscription_id": subscription["_id"],
        "url": subscription["url"], "event_id": event.id, "event_type": event.type,
        "event": event.to_dict(), "body": body.decode("utf-8"),
        "status": PENDING_DELIVERY, "attempts": 0, "created_at": now, "next_attempt_at": now, "lease_until": None,
    }


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: ``delivered`` (a 2xx), ``failed`` (tried again later), or ``refused``
    (the target may not be sent to: final)."""
    kind: str
    error: str | None = None
    status_code: int | None = None

    @classmethod
    def delivered(cls, status_code: int) -> "Outcome":
        return cls("delivered", None, status_code)

    @classmethod
    def failed(cls, error: str, status_code: int | None = None) -> "Outcome":
        return cls("failed", error, status_code)

    @classmethod
    def refused(cls, reason: str) -> "Outcome":
        return cls("refused", reason)


FINAL_STATUSES = ("delivered", "failed")


def replay_fields(now: datetime) -> dict[str, Any]:
    """What a replay sets on a final record (its ``replays`` count goes up by one): pending and due at
    once, with a fresh give-up time; ``_id`` and event stay, so it is sent with the same ``webhook-id``,
    and the attempts made so far stay counted."""
    return {"status": PENDING_DELIVERY, "next_attempt_at": now, "lease_until": None, "replayed_at": now,
            "finished_at": None}


def replayed(record: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {**record, **replay_fields(now), "replays": record.get("replays", 0) + 1}


def finished(record: Mapping[str, Any], status: str, now: datetime) -> dict[str, Any]:
    return {**record, "status": status, "finished_at": now, "next_attempt_at": None, "lease_until": None}


def after_attempt(record: Mapping[str, Any], outcome: Outcome, now: datetime, *, give_up_seconds: float,
                  max_backoff: float, rng: random.Random | None = None) -> dict[str, Any]:
    """The record once ``outcome`` is known: delivered, failed for good (refused, or retried until
    ``give_up_seconds`` after it was created), or pending again after ``retry_delay``."""
    attempted = {**record, "attempts": record.get("attempts", 0) + 1}
    if outcome.kind == "refused":
        return finished({**attempted, "last_error": f"target refused: {outcome.error}"}, "failed", now)
    attempted.update(last_status_code=outcome.status_code, last_error=outcome.error)
    if outcome.kind == "delivered":
        return finished(attempted, "delivered", now)
    # A replay starts a new attempt chain: it is given up counting from the replay, not the first recording.
    give_up_at = (record.get("replayed_at") or record["created_at"]) + timedelta(seconds=give_up_seconds)
    if now >= give_up_at:
        return finished(attempted, "failed", now)
    delay = timedelta(seconds=retry_delay(attempted["attempts"], max_backoff, rng))
    return {**attempted, "next_attempt_at": min(now + delay, give_up_at), "lease_until": None}
