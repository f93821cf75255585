"""The queue consumer's half: records a pending delivery of each recipe event for every matching subscriber."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Protocol, Sequence

from services.common.delivery import Received
from services.common.events import CloudEvent
from services.common.outcomes import ACK, Outcome
from services.gateway.mongo import RequestRecords, WebhookRecords
from services.gateway.tenancy import receives, receives_all
from services.gateway.webhooks.records import matches, new_record

Subscriptions = Mapping[str, Mapping[str, Any]]


class Handoff(Protocol):
    """The scheduler's side of a batch (scheduler.py): claims what it attempts at once before the
    insert, attempts it (and wakes its claim round for the rest) after."""

    def claim_new(self, records: Sequence[dict[str, Any]], subscriptions: Subscriptions) -> list[dict[str, Any]]: ...

    def start_claimed(self, records: Sequence[dict[str, Any]], inserted: set[str],
                      subscriptions: Subscriptions) -> None: ...


class NoHandoff:
    """Records only (no scheduler in this process): the records are inserted unclaimed."""

    def claim_new(self, records: Sequence[dict[str, Any]], subscriptions: Subscriptions) -> list[dict[str, Any]]:
        return list(records)

    def start_claimed(self, records: Sequence[dict[str, Any]], inserted: set[str],
                      subscriptions: Subscriptions) -> None:
        pass


class Recorder:
    def __init__(self, webhooks: WebhookRecords, requests: RequestRecords, handoff: Handoff | None = None) -> None:
        self._webhooks = webhooks
        self._requests = requests
        self._handoff = handoff or NoHandoff()

    def handle(self, messages: Sequence[Received]) -> list[Outcome]:
        """Record a pending delivery of each recipe event for every matching subscriber (durably).

        A batch handler: one read of the subscriptions and one bulk write per batch, not per event
        (most events match no subscriber, and the database is the system's busiest part). The
        consumer decoded the events (and dead-lettered what is not one); each record keeps the raw body.
        The records the scheduler can attempt at once are inserted already claimed by it and handed to
        it with the subscriptions just read: no read of them back before their POST.
        """
        events = [(message.event, message.delivery.body) for message in messages]
        if events:
            subscriptions = self._webhooks.subscriptions_for({event.type for event, _ in events})
            now = datetime.now(timezone.utc)
            # An event's owner is looked up (a read of gateway_requests if its data lacks it) only when a
            # subscriber receives its owner's events alone.
            owners = {} if all(receives_all(subscription) for subscription in subscriptions) else \
                self._owners([event for event, _ in events])
            records = [new_record(subscription, event, body, now, position)
                       for position, (event, body) in enumerate(events) for subscription in subscriptions
                       if matches(subscription, event.type) and receives(subscription, owners.get(event.id))]
            if records:
                by_id = {subscription["_id"]: subscription for subscription in subscriptions}
                records = self._handoff.claim_new(records, by_id)
                inserted: set[str] = set()
                try:
                    inserted = self._webhooks.add_deliveries(records)
                finally:  # a failed insert gives the slots back (what it did write comes due at its claim's expiry)
                    self._handoff.start_claimed(records, inserted, by_id)
        return [ACK] * len(messages)

    def _owners(self, events: list[CloudEvent]) -> dict[str, str | None]:
        """Each event's owner: carried in its data, else (the store had not seen the request yet) the
        gateway's request record of its generation."""
        owners = {event.id: event.data.get("owner") for event in events}
        unknown = {str(event.data.get("generation_id")) for event in events if not owners[event.id]}
        if unknown:
            recorded = self._requests.owners(unknown)
            owners.update((event.id, recorded.get(str(event.data.get("generation_id")))) for event in events
                          if not owners[event.id])
        return owners
