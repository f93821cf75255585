"""The queue consumer's half: records a pending delivery of each recipe event for every matching subscriber."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Sequence

from services.common.delivery import Received
from services.common.events import CloudEvent
from services.common.outcomes import ACK, Outcome
from services.gateway.mongo import RequestRecords, WebhookRecords
from services.gateway.tenancy import receives
from services.gateway.webhooks.records import matches, new_record


class Recorder:
    def __init__(self, webhooks: WebhookRecords, requests: RequestRecords,
                 on_recorded: Callable[[], None] = lambda: None) -> None:
        self._webhooks = webhooks
        self._requests = requests
        self._on_recorded = on_recorded  # wakes the scheduler

    def handle(self, messages: Sequence[Received]) -> list[Outcome]:
        """Record a pending delivery of each recipe event for every matching subscriber (durably).

        A batch handler: one read of the subscriptions and one bulk write per batch, not per event
        (most events match no subscriber, and the database is the system's busiest part). The
        consumer decoded the events (and dead-lettered what is not one); each record keeps the raw body.
        """
        events = [(message.event, message.delivery.body) for message in messages]
        if events:
            subscriptions = self._webhooks.subscriptions_for({event.type for event, _ in events})
            now = datetime.now(timezone.utc)
            owners = self._owners([event for event, _ in events])
            records = [new_record(subscription, event, body, now, position)
                       for position, (event, body) in enumerate(events) for subscription in subscriptions
                       if matches(subscription, event.type) and receives(subscription, owners.get(event.id))]
            if records:
                self._webhooks.add_deliveries(records)
                self._on_recorded()
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
