"""Delivery records and their state transitions: plain functions, no I/O.

A record is the dict stored in ``webhook_deliveries``; every function here
returns a new one (the caller saves it) and never changes the one it is given.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Mapping, Sequence

from services.common.config.sections import SVIX_RETRY_SCHEDULE
from services.common.events import CloudEvent
from services.gateway.validation import subscribing_types

# A delivery not yet final (then "delivered" or "failed"): due for an attempt at next_attempt_at.
PENDING_DELIVERY = "delivering"
# Svix's schedule (docs.svix.com/retries, issue 17): seconds before each attempt, the first at once.
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = SVIX_RETRY_SCHEDULE
JITTER = 0.1  # a retry comes up to 10 % later than scheduled
ATTEMPT_LOG_LIMIT = 100  # the latest attempts a record keeps: a long configured schedule cannot grow it without end
UNORDERED, PER_RECIPE = "unordered", "per_recipe"  # a subscription's ``ordering``
# A per_recipe delivery is first due this long after it is recorded: an earlier event of its recipe
# recorded at the same moment by another consumer worker or deliverer process lands first.
ORDERING_SETTLE_SECONDS = 0.5


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed delivery is tried again: ``schedule[n]`` seconds after its n-th failed attempt
    (jittered, at most ``max_backoff``), never past ``give_up_seconds`` after it was recorded; failed
    once the schedule is used up."""
    schedule: Sequence[float] = DEFAULT_RETRY_SCHEDULE
    give_up_seconds: float = 172800.0
    max_backoff: float = 36000.0


def retry_delay(attempts: int, policy: RetryPolicy, rng: random.Random | None = None,
                retry_after: float | None = None) -> float | None:
    """Seconds before the next attempt after ``attempts`` failed ones; None once the schedule is used up.

    Jitter spreads the retries of many deliveries to one recovering target. A receiver's
    ``Retry-After`` may ask for a longer wait, never a shorter one, and never past ``max_backoff``.
    """
    if attempts >= len(policy.schedule):
        return None
    scheduled = policy.schedule[attempts] * (1 + (rng or random).uniform(0, JITTER))
    return min(policy.max_backoff, max(scheduled, retry_after or 0.0))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A ``Retry-After`` header's wait in seconds (delay-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit alone takes "²", which float() refuses
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - now).total_seconds(), 0.0)


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


def claim_fields(until: datetime, token: str) -> dict[str, Any]:
    """What claiming a due delivery sets: the lease (``lease_until``, proved by ``lease_token``) and its
    next attempt moved to the lease's expiry, so a pending record is claimable exactly when
    ``next_attempt_at <= now``: one range, which the database answers from the ``status,
    next_attempt_at`` index (SecantusDB plans one range per filter, and scanned the collection for the
    $or on ``lease_until`` this replaces: BENCHMARKS.md "Webhooks: durable -> webhook receiver"). A
    claim whose deliverer died comes due again when it expires; a finished attempt's outcome
    (``after_attempt``) sets the real next attempt."""
    return {"next_attempt_at": until, "lease_until": until, "lease_token": token}


def handoff_plan(records: Sequence[Mapping[str, Any]], subscriptions: Mapping[str, Mapping[str, Any]],
                 in_flight: Mapping[str, int], per_target: int, free: int) -> list[int]:
    """Which of the records a deliverer is about to record it attempts at once, claimed as they are
    inserted (``claim_fields``), by their index: those of an unordered subscription without a rate
    limit, in the batch's order, none past its subscription's ``per_target`` slots, ``free`` at most.
    A per_recipe record waits for its recipe's earlier ones (``ordered_heads``) and a rate-limited one
    for its shared slot (``throttle_slot``): both stay with the scheduler's claim rounds, as does
    whatever finds no slot. A claimed record whose deliverer dies before the attempt comes due when
    its claim expires, so nothing is lost."""
    room = {subscription_id: per_target - in_flight.get(subscription_id, 0) for subscription_id in subscriptions}
    plan: list[int] = []
    for index, record in enumerate(records):
        subscription = subscriptions.get(record["subscription_id"])
        if len(plan) >= free:
            break
        if subscription is None or subscription.get("ordering") == PER_RECIPE or subscription.get("rate_limit"):
            continue
        if room[record["subscription_id"]] > 0:
            room[record["subscription_id"]] -= 1
            plan.append(index)
    return plan


def _claimable(record: Mapping[str, Any], now: datetime) -> bool:
    due, lease = record.get("next_attempt_at"), record.get("lease_until")
    return due is not None and due <= now and (lease is None or lease <= now)


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: ``delivered`` (a 2xx), ``failed`` (tried again later), ``gone`` (a 410:
    final, and the subscription is disabled) or ``refused`` (the target may not be sent to: final)."""
    kind: str
    error: str | None = None
    status_code: int | None = None
    duration: float | None = None  # seconds the attempt took (None: no request was made)
    retry_after: float | None = field(default=None, compare=False)  # the receiver's Retry-After, seconds

    @classmethod
    def delivered(cls, status_code: int, duration: float | None = None) -> "Outcome":
        return cls("delivered", None, status_code, duration)

    @classmethod
    def failed(cls, error: str, status_code: int | None = None, duration: float | None = None,
               retry_after: float | None = None) -> "Outcome":
        return cls("failed", error, status_code, duration, retry_after)

    @classmethod
    def gone(cls, duration: float | None = None) -> "Outcome":
        return cls("gone", "HTTP 410 Gone: the receiver asked to stop; the subscription is disabled", 410, duration)

    @classmethod
    def refused(cls, reason: str) -> "Outcome":
        return cls("refused", reason)


FINAL_STATUSES = ("delivered", "failed")


def replay_fields(now: datetime) -> dict[str, Any]:
    """What a replay sets on a final record (its ``replays`` count goes up by one): pending and due at
    once, with a fresh give-up time; ``_id`` and event stay, so it is sent with the same ``webhook-id``,
    and the attempts made so far stay counted
    (the new chain's schedule counts those logged since ``replayed_at``: ``chain_attempts``)."""
    return {"status": PENDING_DELIVERY, "next_attempt_at": now, "lease_until": None, "replayed_at": now,
            "finished_at": None}


def replayed(record: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {**record, **replay_fields(now), "replays": record.get("replays", 0) + 1}


def chain_attempts(record: Mapping[str, Any], replayed_at: datetime | None) -> int:
    """Attempts of the current chain: all of them, or those logged since the last replay."""
    if replayed_at is None:
        return int(record.get("attempts", 0))
    return sum(1 for entry in record.get("attempt_log", []) if entry["at"] >= replayed_at)


def finished(record: Mapping[str, Any], status: str, now: datetime) -> dict[str, Any]:
    return {**record, "status": status, "finished_at": now, "next_attempt_at": None, "lease_until": None}


def attempt_entry(outcome: Outcome, now: datetime) -> dict[str, Any]:
    """One line of a delivery's attempt log (``now``: when the attempt ended)."""
    duration = outcome.duration
    return {"at": now - timedelta(seconds=duration or 0.0), "status_code": outcome.status_code,
            "duration_ms": None if duration is None else round(duration * 1000, 1), "error": outcome.error}


def after_attempt(record: Mapping[str, Any], outcome: Outcome, now: datetime, policy: RetryPolicy,
                  rng: random.Random | None = None) -> dict[str, Any]:
    """The record once ``outcome`` is known: delivered, failed for good (refused, gone, the schedule used
    up or ``give_up_seconds`` passed), or pending again after ``retry_delay``. Every attempt is logged."""
    attempted = {**record, "attempts": record.get("attempts", 0) + 1,
                 "attempt_log": [*record.get("attempt_log", []), attempt_entry(outcome, now)][-ATTEMPT_LOG_LIMIT:]}
    if outcome.kind == "refused":
        return finished({**attempted, "last_error": f"target refused: {outcome.error}"}, "failed", now)
    attempted.update(last_status_code=outcome.status_code, last_error=outcome.error)
    if outcome.kind == "delivered":
        return finished(attempted, "delivered", now)
    if outcome.kind == "gone":
        return finished(attempted, "failed", now)
    # A replay starts a new attempt chain: its schedule and its give-up time count from the replay.
    replayed_at = record.get("replayed_at")
    give_up_at = (replayed_at or record["created_at"]) + timedelta(seconds=policy.give_up_seconds)
    delay = retry_delay(chain_attempts(attempted, replayed_at), policy, rng, outcome.retry_after)
    if delay is None or now >= give_up_at:
        return finished(attempted, "failed", now)
    return {**attempted, "next_attempt_at": min(now + timedelta(seconds=delay), give_up_at), "lease_until": None}


@dataclass(frozen=True)
class Health:
    """What an attempt's outcome means for its subscription: ``healthy`` (a success clears
    ``failing_since``), ``failing`` (every attempt since ``failing_since`` failed), ``disable`` or
    ``unchanged``."""
    kind: str
    reason: str | None = None


def subscription_health(outcome: Outcome, failing_since: datetime | None, now: datetime,
                        disable_after: float) -> Health:
    """A 410 disables at once; failures alone once every attempt for ``disable_after`` seconds failed.
    A refused target (deleted, or refused by the rules) says nothing about the receiver."""
    if outcome.kind == "delivered":
        return Health("healthy")
    if outcome.kind == "gone":
        return Health("disable", "the receiver answered 410 Gone")
    if outcome.kind == "refused":
        return Health("unchanged")
    if failing_since is not None and now - failing_since >= timedelta(seconds=disable_after):
        return Health("disable", f"every attempt failed for {disable_after:g} s (WEBHOOK_DISABLE_AFTER)")
    return Health("failing")
