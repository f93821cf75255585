"""The store's service layer: a batch of deliveries in, durable documents and recipe events out.

For one batch of decoded events (``decode``: the consumer dead-letters, with the
reason, what is not an event of the contract or one the store has no rule for), write
every change durably (recipes, their completion, then generations), record
the events, read back what changed, publish the recipe events and one
``events.recorded`` per generation (the live views' wake-up) with confirms;
only then does the consumer ack the batch. A crash anywhere before
the ack replays the batch, and every step is idempotent.

MongoDB unreachable: the error reaches the consumer, which calls the handler
again with backoff until MongoDB is back (or the store stops), holding the
batch unacked, so the delivery limit is not burnt
(``services.common.mongo.transient``); prefetch holds the rest of the queue
back meanwhile.

A document MongoDB or the driver refuses (``refused_document``: a NUL in a
field name, a document over 16 MiB) is one event's fault: the batch is split
until that event stands alone (``isolation.py``); it is dead-lettered with the
reason and every other event of the batch is applied.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from dataclasses import dataclass
from typing import Sequence

from services.common import schemas
from services.common.delivery import Delivery, Received, received
from services.common.events import CloudEvent
from services.common.mongo import refused_document
from services.common.outcomes import ACK, DeadLetter, Outcome
from services.common.rejection import Rejected
from services.common.publisher import Publisher
from services.store import domain, metrics, updates
from services.store.isolation import isolate_failures
from services.store.mongo import StoreDatabase
from services.store.outcomes import recipe_events, recorded_events

log = logging.getLogger(__name__)


def decode(delivery: Delivery) -> Received:
    """The delivery's event, if the store has a rule for it; else ``Rejected`` (the consumer dead-letters it)."""
    try:
        message = received(delivery)
        domain.changes_for(message.event)  # validates that the store has a rule for it
    except Rejected:
        metrics.POISON.inc()
        raise
    return message


@dataclass
class StoreHandler:
    db: StoreDatabase
    publisher: Publisher
    publish_timeout: float = 30.0

    def __call__(self, messages: Sequence[Received]) -> list[Outcome]:
        outcomes: list[Outcome] = [ACK] * len(messages)
        events: dict[str, CloudEvent] = {}
        positions: dict[str, list[int]] = {}  # event id -> its messages in this batch
        for position, message in enumerate(messages):
            positions.setdefault(message.event.id, []).append(position)
            events.setdefault(message.event.id, message.event)
        if events:
            # Before persist stamps recorded_at, on the same clock: live views read from here (outcomes.py).
            started = datetime.now(timezone.utc)
            isolated = isolate_failures(list(events.values()), lambda part: persist(self.db, part), refused_document)
            for event, reason in isolated.failed:
                log.error("event refused by MongoDB; dead-lettering it alone",
                          extra={"event_id": event.id, "reason": reason, "batch": len(events)})
                metrics.POISON.inc()
                for position in positions[event.id]:
                    outcomes[position] = DeadLetter(f"MongoDB refused the event: {reason}")
            announcements = [announcement for part in isolated.results for announcement in part]
            # The events are durable now: a live view woken by events.recorded reads them from MongoDB
            # (services/gateway/live.py). Sent first: one small message per generation of the batch.
            refused = {event.id for event, _reason in isolated.failed}
            recorded = recorded_events((e for e in events.values() if e.id not in refused), started)
            self.publisher.publish(recorded + announcements, timeout=self.publish_timeout, allow_unroutable=True)
            metrics.APPLIED.inc(len(events) - len(isolated.failed))
            metrics.ANNOUNCED.inc(len(announcements))
        return outcomes


def persist(db: StoreDatabase, events: Sequence[CloudEvent]) -> list[CloudEvent]:
    """Apply, record and complete durably; return the recipe events that announce the result.

    Recipes are written and completed before the generation's status, so a
    reader that sees a generation ``completed`` sees its recipes complete. The
    completion state is read again after the writes, which catches a recipe that
    another batch (another store process) created while its generation completed.
    """
    changes = [change for event in events for change in domain.changes_for(event)]
    generation_ids = {event.data["generation_id"] for event in events}
    with metrics.WRITE_SECONDS.time():
        before = db.find_generations(generation_ids)
        completing = _completed_at(before)
        completing.update((e.data["generation_id"], domain.event_time(e)) for e in events
                          if e.type == schemas.GENERATION_COMPLETED and e.data["generation_id"] not in completing)
        owners = {gid: doc["owner"] for gid, doc in before.items() if doc.get("owner")}
        owners.update((e.data["generation_id"], e.data["owner"]) for e in events
                      if e.type == schemas.GENERATION_REQUESTED and e.data.get("owner"))
        refused = db.apply(changes, events, before, completing, owners)  # one command: recipes, generations, log
        read_after = db.find_generations(generation_ids)
        after = _completed_at(read_after)
        owners.update((gid, doc["owner"]) for gid, doc in read_after.items() if doc.get("owner"))
        db.finish_recipes({gid: at for gid, at in after.items() if gid not in completing},
                          _to_stamp(events, before, owners))
        # Read back only what the announcements need: which addRecipe won (recipe.created), and the
        # counts of every recipe of a completed generation (recipe.completed).
        described = {schemas.recipe_id_for(e.data["generation_id"], e.data["arguments"]["id"]) for e in events
                     if e.type == schemas.TOOLCALL_ADD_RECIPE and e.data["generation_id"] not in after}
        recipes = db.find_recipes(described, after) if described or after else {}
    if refused:  # applied as no change: the batch goes on; the model's calls past the bound are dropped
        metrics.ITEMS_REFUSED.inc(len(refused))
        log.warning("recipe items refused: the recipe holds its maximum", extra={
            "recipes": sorted({add.recipe_id for add in refused}), "refused": len(refused),
            "bound": updates.MAX_ITEMS_PER_RECIPE})
    refused_calls = {add.item["tool_call_id"] for add in refused}
    return recipe_events([e for e in events if e.data.get("tool_call_id") not in refused_calls],
                         recipes, sorted(after), owners)


def _to_stamp(events: Sequence[CloudEvent], before: dict[str, dict], owners: dict[str, str]) -> dict[str, str]:
    """Generations whose recipes may lack their owner: the request arrived in this batch, or a recipe
    was written before its generation's owner was known. The recipe is written before the generation
    is read again, the owner before the recipes are stamped, so whichever batch comes second stamps
    (events in any order)."""
    gids = {e.data["generation_id"] for e in events if e.type == schemas.GENERATION_REQUESTED}
    gids |= {e.data["generation_id"] for e in events
             if e.type in schemas.TOOLCALL_TYPES and not before.get(e.data["generation_id"], {}).get("owner")}
    return {gid: owners[gid] for gid in gids if gid in owners}


def _completed_at(generations: dict[str, dict]) -> dict[str, datetime]:
    return {gid: doc["completed_at"] for gid, doc in generations.items() if doc.get("status") == "completed"}
