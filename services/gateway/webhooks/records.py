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
UNORDERED, PER_RECIPE = "unordered", "per_recipe"  # a subscription's ``ordering``
# A per_recipe delivery is first due this long after it is recorded: an earlier event of its recipe
# recorded at the same moment by another consumer worker or deliverer process lands first.
ORDERING_SETTLE_SECONDS = 0.5


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


def new_record(subscription: Mapping[str, Any], event: CloudEvent, body: bytes, now: datetime,
               position: int = 0) -> dict[str, Any]:
    """A pending delivery of ``event`` (``position``: its place in the consumer's batch); a per_recipe
    subscription's also carries its recipe (``ordering_key``) and its place in the recipe's order."""
    record = {
        "_id": f"{subscription['_id']}:{event.id}", "subscription_id": subscription["_id"],
        "url": subscription["url"], "event_id": event.id, "event_type": event.type,
        "event": event.to_dict(), "body": body.decode("utf-8"),
        "status": PENDING_DELIVERY, "attempts": 0, "created_at": now, "next_attempt_at": now, "lease_until": None,
    }
    if subscription.get("ordering") == PER_RECIPE:
        # The store's announcement time (fixed-width ISO, milliseconds), then the order of arrival.
        record.update(ordering_key=str(event.data.get("recipe_id") or event.subject or event.id),
                      sequence=f"{event.time}|{now.strftime('%Y%m%d%H%M%S%f')}|{position:06d}",
                      next_attempt_at=now + timedelta(seconds=ORDERING_SETTLE_SECONDS))
    return record


def ordered_heads(pending: Sequence[Mapping[str, Any]], now: datetime, limit: int) -> list[Mapping[str, Any]]:
    """Of a per_recipe subscription's pending deliveries, those that may be attempted now, at most
    ``limit``: the first (lowest ``sequence``) of each recipe, when it is due and nobody holds a live
    claim on it. The next of a recipe waits until the one before is final (delivered or failed)."""
    first: dict[str, Mapping[str, Any]] = {}
    for record in pending:
        key = record.get("ordering_key") or record["_id"]
        if key not in first or record.get("sequence", "") < first[key].get("sequence", ""):
            first[key] = record
    heads = [record for record in first.values() if _claimable(record, now)]
    return sorted(heads, key=lambda record: record["next_attempt_at"])[:limit]


def throttle_slot(slot_at: datetime | None, now: datetime, rate: float) -> tuple[datetime | None, float]:
    """A subscription's rate limit (``rate`` requests per second) as one shared next-slot time:
    ``(the next slot time, 0)`` when a request may start now (its slot is due, or none was ever taken),
    else ``(None, seconds until it is)``. Requests are thus at least ``1 / rate`` seconds apart."""
    if slot_at is not None and slot_at > now:
        return None, (slot_at - now).total_seconds()
    return now + timedelta(seconds=1 / rate), 0.0


def _claimable(record: Mapping[str, Any], now: datetime) -> bool:
    due, lease = record.get("next_attempt_at"), record.get("lease_until")
    return due is not None and due <= now and (lease is None or lease <= now)


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
