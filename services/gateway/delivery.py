"""Webhook delivery (service layer): each recipe event to every matching subscriber, signed, retried.

Two halves, joined by durable records in ``webhook_deliveries`` (one per
subscription and event):

* ``handle`` (the queue consumer, a batch at a time) records a pending delivery
  for every matching subscriber and returns, so the messages are acked as soon
  as the records are durable. It never waits for a subscriber's server.
* The scheduler thread claims due records (a lease, so several deliverer
  processes never attempt the same record at once and a killed one's claims
  expire) and attempts them on a thread pool, at most ``per_target`` at a time
  per subscription, taking turns across subscriptions (``claim_plan``): a dead
  or slow target holds a few threads, never all of them, never the queue, and
  its backlog never delays another subscriber. Each attempt has one deadline
  and reads at most a few KiB of the answer (``pinned.py``); its outcome is
  saved only while it holds its lease (``lease_token``), so a stale attempt
  never overwrites a newer one.

A failed attempt is scheduled again with exponential backoff and jitter until
``webhook_give_up`` seconds after the record was created; then the record is
``failed`` and keeps the whole event (the dead letter an operator can replay).
A record that is ``delivered`` or ``failed`` is final: a redelivered event is
not sent again to a subscriber that has it.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from http.client import HTTPException
from typing import Any, Mapping, Sequence

from services.common.consumer import Delivery
from services.common.events import CloudEvent, InvalidEvent, decode
from services.gateway.mongo import PENDING_DELIVERY, GatewayStore
from services.gateway.options import GatewayOptions
from services.gateway.signing import webhook_headers
from services.gateway.pinned import post_pinned
from services.gateway.targets import ALLOWED_PORTS, RefusedTarget, check_target
from services.gateway.tenancy import receives
from services.gateway.validation import subscribing_types

log = logging.getLogger(__name__)
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


class AttemptFailed(Exception):
    def __init__(self, detail: str, status_code: int | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code


class Deliverer:
    def __init__(self, store: GatewayStore, options: GatewayOptions, *, allow_private: bool,
                 ports: frozenset[int] = ALLOWED_PORTS, parallel: int = 64, per_target: int = 4,
                 poll_seconds: float = 1.0) -> None:
        self._store = store
        self._options = options
        self._allow_private = allow_private
        self._ports = ports
        self._parallel = parallel
        self._per_target = per_target
        self._poll_seconds = poll_seconds
        # A claim outlives one attempt (timeout plus bookkeeping), then another process may take it.
        self._lease = timedelta(seconds=options.webhook_timeout * 2 + 10)
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="webhook")
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._turn = 0
        self._scheduler = threading.Thread(target=self._schedule, name="webhook-scheduler", daemon=True)

    # -- consumer side ---------------------------------------------------------

    def handle(self, deliveries: Sequence[Delivery]) -> list[str | None]:
        """Record a pending delivery of each recipe event for every matching subscriber (durably).

        A batch handler: one read of the subscriptions and one bulk write per batch, not per event
        (most events match no subscriber, and the database is the system's busiest part).
        Returns a poison reason, or None, per delivery.
        """
        outcomes: list[str | None] = []
        events: list[tuple[CloudEvent, bytes]] = []
        for delivery in deliveries:
            try:
                events.append((decode(delivery.body), delivery.body))
                outcomes.append(None)
            except InvalidEvent as exc:
                outcomes.append(exc.reason)
        if events:
            subscriptions = self._store.subscriptions_for({event.type for event, _ in events})
            now = datetime.now(timezone.utc)
            owners = self._owners([event for event, _ in events])
            records = [new_record(subscription, event, body, now) for event, body in events
                       for subscription in subscriptions if matches(subscription, event.type)
                       and receives(subscription, owners.get(event.id))]
            if records:
                self._store.add_deliveries(records)
                self._wake.set()
        return outcomes

    def _owners(self, events: list[CloudEvent]) -> dict[str, str | None]:
        """Each event's owner: carried in its data, else (the store had not seen the request yet) the
        gateway's request record of its generation."""
        owners = {event.id: event.data.get("owner") for event in events}
        unknown = {str(event.data.get("generation_id")) for event in events if not owners[event.id]}
        if unknown:
            recorded = self._store.request_owners(unknown)
            owners.update((event.id, recorded.get(str(event.data.get("generation_id")))) for event in events
                          if not owners[event.id])
        return owners

    # -- scheduler ---------------------------------------------------------------

    def start(self) -> "Deliverer":
        self._scheduler.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop claiming; attempts under way finish (an unfinished claim expires and is retried elsewhere)."""
        self._stopping.set()
        self._wake.set()
        if self._scheduler.is_alive():
            self._scheduler.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _schedule(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = self._claim_due()
            except Exception:  # a database outage must not end the scheduler
                log.warning("cannot claim due webhook deliveries; retrying", exc_info=True)
                claimed = 0
            if not claimed:
                self._wake.wait(self._idle_wait())
                self._wake.clear()

    def _idle_wait(self) -> float:
        """Until the earliest scheduled retry, at most ``poll_seconds`` (records of other processes)."""
        try:
            due = self._store.next_delivery_due()
        except Exception:  # noqa: BLE001 - the next claim will log the outage
            return self._poll_seconds
        if due is None:
            return self._poll_seconds
        return min(self._poll_seconds, max((due - datetime.now(timezone.utc)).total_seconds(), 0.01))

    def _claim_due(self) -> int:
        """Claim due deliveries fairly: round-robin over the subscriptions with due work and a free
        slot, so a black hole with a long backlog gets its few slots and everyone else the rest."""
        now = datetime.now(timezone.utc)
        with self._lock:
            in_flight = Counter(self._in_flight)
        free = self._parallel - sum(in_flight.values())
        if free <= 0:
            return 0
        due = self._store.subscriptions_due(now)
        if not due:
            return 0
        self._turn = (self._turn + 1) % len(due)  # who goes first changes every round
        wanted = Counter(claim_plan(due[self._turn:] + due[:self._turn], in_flight, self._per_target, free))
        claimed = 0
        for subscription_id, count in wanted.items():
            for candidate in self._store.due_deliveries(now, limit=count, subscription_id=subscription_id):
                record = self._store.lease_delivery(candidate["_id"], now, now + self._lease)
                if record is None:  # another deliverer took it first
                    continue
                with self._lock:
                    self._in_flight[subscription_id] += 1
                claimed += 1
                self._pool.submit(self._attempt_and_record, record)
        return claimed

    def _attempt_and_record(self, record: dict[str, Any]) -> None:
        try:
            self._attempt_once(record)
        except Exception:  # the lease expires and the record is tried again
            log.exception("webhook attempt could not be recorded", extra={"delivery": record["_id"]})
        finally:
            with self._lock:
                self._in_flight[record["subscription_id"]] -= 1
                if self._in_flight[record["subscription_id"]] <= 0:
                    del self._in_flight[record["subscription_id"]]
            self._wake.set()

    def _attempt_once(self, record: dict[str, Any]) -> None:
        # owner "" reads any subscription: ownership scopes the management API, not delivery.
        subscription = self._store.subscription(record["subscription_id"], owner="")
        record["attempts"] = record.get("attempts", 0) + 1
        try:
            if subscription is None:
                raise RefusedTarget("the subscription was deleted")
            self._post(subscription, record)
        except AttemptFailed:
            now = datetime.now(timezone.utc)
            give_up_at = record["created_at"] + timedelta(seconds=self._options.webhook_give_up)
            if now >= give_up_at:
                self._finish(record, "failed")
                log.warning("webhook delivery given up", extra={"delivery": record["_id"],
                                                               "attempts": record["attempts"],
                                                               "error": record.get("last_error")})
                return
            delay = timedelta(seconds=retry_delay(record["attempts"], self._options.webhook_max_backoff))
            record["next_attempt_at"] = min(now + delay, give_up_at)
            record["lease_until"] = None
            self._save(record)
            return
        except RefusedTarget as exc:
            record["last_error"] = f"target refused: {exc}"
            self._finish(record, "failed")
            log.warning("webhook delivery refused", extra={"delivery": record["_id"], "error": record["last_error"]})
            return
        self._finish(record, "delivered")

    def _finish(self, record: dict[str, Any], status: str) -> None:
        record.update(status=status, finished_at=datetime.now(timezone.utc), next_attempt_at=None, lease_until=None)
        self._save(record)

    def _save(self, record: dict[str, Any]) -> None:
        if not self._store.save_delivery(record):
            log.warning("webhook attempt outcome dropped: its lease expired and the delivery was claimed again",
                        extra={"delivery": record["_id"], "status": record["status"],
                               "error": record.get("last_error")})

    def _post(self, subscription: Mapping[str, Any], record: dict[str, Any]) -> None:
        # Checked again before every attempt (DNS may have changed), and sent to the address checked.
        target, addresses = check_target(subscription["url"], allow_private=self._allow_private,
                                         ports=self._ports)
        body = record["body"].encode("utf-8")
        headers = webhook_headers(subscription["secret"], record["event_id"], int(time.time()), body)
        try:
            answer = post_pinned(target, addresses[0], body, headers, deadline=self._options.webhook_timeout)
        except (OSError, HTTPException) as exc:
            record.update(last_status_code=None, last_error=f"{type(exc).__name__}: {exc}"[:500])
            raise AttemptFailed(record["last_error"]) from None
        record["last_status_code"] = answer.status_code
        if 200 <= answer.status_code < 300:
            record["last_error"] = None
            return
        record["last_error"] = f"HTTP {answer.status_code}"
        raise AttemptFailed(record["last_error"], answer.status_code)
