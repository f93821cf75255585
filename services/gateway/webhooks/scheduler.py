"""The scheduler: claims due delivery records under a lease and attempts them on its own pool."""
from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Sequence

from services.common.config import GatewaySettings
from services.gateway.mongo import WebhookRecords
from services.gateway.webhooks import metrics
from services.gateway.webhooks.records import (PER_RECIPE, Outcome, RetryPolicy, after_attempt, claim_fields,
                                               claim_plan, handoff_plan, ordered_heads, subscription_health)
from services.gateway.webhooks.sender import Sender

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)

log = logging.getLogger(__name__)
OUTAGE_RETRY_SECONDS = 1.0  # the database did not answer: try again soon, not at the safety poll


class Scheduler:
    def __init__(self, records: WebhookRecords, sender: Sender, settings: GatewaySettings, *,
                 clock: Clock = utc_now,
                 on_disabled: Callable[[dict[str, Any]], None] = lambda subscription: None) -> None:
        self._records = records
        self._sender = sender
        self._settings = settings
        self._policy = RetryPolicy(settings.webhook_retry_schedule, settings.webhook_give_up_seconds,
                                   settings.webhook_max_backoff_seconds)
        self._clock = clock
        self._on_disabled = on_disabled  # the subscription this process just disabled (notices.py)
        self._parallel = settings.webhook_parallel_attempts
        self._per_target = settings.webhook_attempts_per_target
        self._safety_poll = settings.webhook_safety_poll_seconds
        # A claim outlives one attempt (timeout plus bookkeeping), then another process may take it.
        self._lease = timedelta(seconds=settings.webhook_timeout_seconds * 2 + 10)
        self._pool = ThreadPoolExecutor(max_workers=self._parallel, thread_name_prefix="webhook")
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._turn = 0
        self._throttled_for: float | None = None  # the last round's shortest wait for a rate limit's slot
        self._thread = threading.Thread(target=self._schedule, name="webhook-scheduler", daemon=True)

    def start(self) -> "Scheduler":
        self._thread.start()
        return self

    def wake(self) -> None:
        """New records are due: claim now rather than at the next poll."""
        self._wake.set()

    def claim_new(self, records: Sequence[dict[str, Any]], subscriptions: Mapping[str, Mapping[str, Any]]
                  ) -> list[dict[str, Any]]:
        """The records the recorder is about to insert, those this process attempts at once claimed
        (``records.handoff_plan``, ``claim_fields``) with their slots taken: inserted so, they need no due
        query, no claim update and no read back (one durable write from the event to the POST). The
        recorder then calls ``start_claimed``."""
        if self._stopping.is_set():
            return list(records)
        until = self._clock() + self._lease
        with self._lock:
            free = self._parallel - sum(self._in_flight.values())
            plan = set(handoff_plan(records, subscriptions, self._in_flight, self._per_target, free))
            for index in plan:
                self._in_flight[records[index]["subscription_id"]] += 1
        return [{**record, **claim_fields(until, uuid.uuid4().hex)} if index in plan else record
                for index, record in enumerate(records)]

    def start_claimed(self, records: Sequence[dict[str, Any]], inserted: set[str],
                      subscriptions: Mapping[str, Mapping[str, Any]]) -> None:
        """After the insert (``inserted``: the ids it created; none if it failed): attempt the claimed
        records that were inserted, with the subscription the recorder just read; give back the slots of
        claimed ones that were not (a record of that event existed: it is not this claim's), and wake the
        claim round for every record not attempted here."""
        rest = False
        for record in records:
            claimed = "lease_token" in record
            if claimed and record["_id"] in inserted:
                try:
                    self._pool.submit(self._attempt_and_record, record, subscriptions.get(record["subscription_id"]))
                    continue
                except RuntimeError:  # closing: the claim expires and the record is attempted then
                    pass
            if claimed:
                self._release(record["subscription_id"])
            rest = True
        if rest:
            self.wake()

    def close(self, timeout: float = 10.0) -> None:
        """Stop claiming; attempts under way finish (an unfinished claim expires and is retried elsewhere)."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _schedule(self) -> None:
        # Woken, not timed: by what the recorder records (wake), by each finished attempt (a slot frees,
        # a per_recipe successor may follow), else it sleeps until the next retry or claim expiry is due;
        # the safety poll finds records other processes made due (replays, another deliverer's outcomes).
        while not self._stopping.is_set():
            self._wake.clear()  # before the round: a wake during the round makes another one at once
            try:
                claimed = self._claim_due()
            except Exception:  # a database outage must not end the scheduler
                log.warning("cannot claim due webhook deliveries; retrying", exc_info=True)
                claimed = 0
            if not claimed:
                self._wake.wait(self._idle_wait())

    def _idle_wait(self) -> float:
        """Until a pending delivery can become claimable by time alone (its retry, a claim's expiry, the
        rate limit's next slot), at most ``webhook_safety_poll_seconds``."""
        now = self._clock()
        try:
            change = self._records.next_change_at(now)
        except Exception:  # noqa: BLE001 - the next claim will log the outage
            return OUTAGE_RETRY_SECONDS
        waits = [self._safety_poll]
        if change is not None:
            waits.append((change - now).total_seconds())
        if self._throttled_for is not None:
            waits.append(self._throttled_for)
        return max(min(waits), 0.001)

    def _claim_due(self) -> int:
        """Claim due deliveries fairly: round-robin over the subscriptions with due work and a free
        slot, so a black hole with a long backlog gets its few slots and everyone else the rest."""
        now = self._clock()
        self._throttled_for = None
        with self._lock:
            in_flight = Counter(self._in_flight)
        free = self._parallel - sum(in_flight.values())
        if free <= 0:
            return 0
        due = self._records.subscriptions_due(now)
        if not due:
            return 0
        self._turn = (self._turn + 1) % len(due)  # who goes first changes every round
        wanted = Counter(claim_plan(due[self._turn:] + due[:self._turn], in_flight, self._per_target, free))
        settings = self._records.delivery_settings(list(wanted))
        claimed = 0
        for subscription_id, count in wanted.items():
            rate = settings.get(subscription_id, {}).get("rate_limit")
            for candidate in self._candidates(now, count, subscription_id, settings.get(subscription_id, {})):
                # The time the request will go (not the round's start), so slots are spaced as sent.
                wait = 0.0 if not rate else \
                    self._records.take_throttle_slot(subscription_id, datetime.now(timezone.utc), rate)
                if wait > 0:  # the rate's next slot is later (this process's or another's): the next round
                    self._throttled_for = min(wait, self._throttled_for or wait)
                    break
                record = self._records.lease_delivery(candidate["_id"], now, now + self._lease)
                if record is None:  # another deliverer took it first
                    continue
                with self._lock:
                    self._in_flight[subscription_id] += 1
                claimed += 1
                self._pool.submit(self._attempt_and_record, record)
        return claimed

    def _candidates(self, now: datetime, count: int, subscription_id: str,
                    settings: dict[str, Any]) -> list[Any]:
        if settings.get("ordering") == PER_RECIPE:  # one at a time per recipe, in order
            return ordered_heads(self._records.pending_in_order(subscription_id), now, count)
        return self._records.due_deliveries(now, limit=count, subscription_id=subscription_id)

    def _release(self, subscription_id: str) -> None:
        with self._lock:
            self._in_flight[subscription_id] -= 1
            if self._in_flight[subscription_id] <= 0:
                del self._in_flight[subscription_id]

    def _attempt_and_record(self, record: dict[str, Any], subscription: Mapping[str, Any] | None = None) -> None:
        try:
            self._attempt_once(record, subscription)
        except Exception:  # the lease expires and the record is tried again
            log.exception("webhook attempt could not be recorded", extra={"delivery": record["_id"]})
        finally:
            self._release(record["subscription_id"])
            self._wake.set()

    def _attempt_once(self, record: dict[str, Any], known: Mapping[str, Any] | None = None) -> None:
        # owner "" reads any subscription: ownership scopes the management API, not delivery.
        subscription = dict(known) if known is not None else \
            self._records.subscription(record["subscription_id"], owner="")
        outcome = self._sender.send(subscription, record)
        now = self._clock()
        record = after_attempt(record, outcome, now, self._policy)
        self._save(record)
        metrics.observe(record["subscription_id"], outcome, (now - record["created_at"]).total_seconds())
        if subscription is not None:
            self._judge(subscription, outcome, now)
        if outcome.kind == "refused":
            log.warning("webhook delivery refused", extra={"delivery": record["_id"], "error": record["last_error"]})
        elif outcome.kind == "failed" and record["status"] == "failed":
            log.warning("webhook delivery given up", extra={"delivery": record["_id"], "attempts": record["attempts"],
                                                           "error": record.get("last_error")})

    def _judge(self, subscription: dict[str, Any], outcome: Outcome, now: datetime) -> None:
        """Keep the subscription's failing period; disable it (and announce that, once) when it is due."""
        health = subscription_health(outcome, subscription.get("failing_since"), now,
                                     self._settings.webhook_disable_after)
        if health.kind == "healthy" and subscription.get("failing_since") is not None:
            self._records.mark_healthy(subscription["_id"])
        elif health.kind == "failing" and subscription.get("failing_since") is None:
            self._records.mark_failing(subscription["_id"], now)
        elif health.kind == "disable" and health.reason is not None:
            disabled = self._records.disable_subscription(subscription["_id"], health.reason, now)
            if disabled is not None:  # this process disabled it: the notice is its to send
                self._on_disabled(disabled)

    def _save(self, record: dict[str, Any]) -> None:
        if not self._records.save_delivery(record):
            log.warning("webhook attempt outcome dropped: its lease expired and the delivery was claimed again",
                        extra={"delivery": record["_id"], "status": record["status"],
                               "error": record.get("last_error")})
