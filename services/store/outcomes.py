"""Which ``recipe.*`` events a durably applied batch announces. No I/O.

Ids are deterministic, so a replayed batch republishes the same ids and
subscribers drop the copies:

* created / ingredient_added / step_added: derived from the source event id;
* completed: derived from the recipe id and its counts, so every source that
  sees the same final recipe (the generation.completed event, a late step,
  a replay of either) announces it under the same id, and a recipe that grew
  after its generation completed is announced again with its new counts.

Built from already validated events, they skip ``new_event``'s per-event JSON
Schema check (a measurable cost at thousands per second); the unit tests
decode every kind against the contract instead.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from services.common import schemas
from services.common.events import CloudEvent, derived_event_id
from services.store.domain import recipe_id_of

SOURCE = "store"


def recipe_events(
    events: Iterable[CloudEvent],
    recipes: Mapping[str, Mapping[str, Any]],
    completed_generations: Iterable[str],
    owners: Mapping[str, str] | None = None,
) -> list[CloudEvent]:
    """The announcements for ``events`` given the recipes as they are after the write.

    ``recipes`` holds every recipe an addRecipe among the events touched and
    every recipe of the ``completed_generations`` among the generations they
    touched. An ingredient or step needs no read-back: once the write succeeded,
    its tool call is in its recipe (its id is the idempotency key).
    """
    out: list[CloudEvent] = []
    owners = owners or {}
    trace: dict[str, str | None] = {}
    for event in events:
        generation_id = event.data["generation_id"]
        trace.setdefault(generation_id, event.traceparent)
        recipe_id = recipe_id_of(event)
        if recipe_id is None:
            continue
        announcement = _announcement(event, recipe_id, recipes.get(recipe_id))
        if announcement is not None:
            if owners.get(generation_id):  # with API keys on: whose recipe it is (docs/events.md)
                announcement[1]["owner"] = owners[generation_id]
            out.append(CloudEvent(id=derived_event_id(event.id, announcement[0]), type=announcement[0],
                                  source=SOURCE, data=announcement[1], subject=recipe_id,
                                  traceparent=event.traceparent))
    done = set(completed_generations)
    for _recipe_id, doc in sorted(recipes.items()):
        if doc["generation_id"] in done:
            out.append(completed_event(doc, trace.get(doc["generation_id"]), owners.get(doc["generation_id"])))
    return out


def completed_event(doc: Mapping[str, Any], traceparent: str | None = None, owner: str | None = None
                    ) -> CloudEvent:
    ingredients, steps = len(doc.get("ingredients", [])), len(doc.get("steps", []))
    data: dict[str, Any] = {"generation_id": doc["generation_id"], "recipe_id": doc["_id"],
                            "ingredient_count": ingredients, "step_count": steps}
    if owner:
        data["owner"] = owner
    event_id = derived_event_id(schemas.RECIPE_COMPLETED, doc["_id"], str(ingredients), str(steps))
    return CloudEvent(id=event_id, type=schemas.RECIPE_COMPLETED, source=SOURCE, data=data, subject=doc["_id"],
                      traceparent=traceparent)


def _announcement(event: CloudEvent, recipe_id: str, doc: Mapping[str, Any] | None
                  ) -> tuple[str, dict[str, Any]] | None:
    args = event.data["arguments"]
    ref = {"generation_id": event.data["generation_id"], "recipe_id": recipe_id}
    if event.type == schemas.TOOLCALL_ADD_RECIPE:
        if doc is None or doc.get("described_by") != event.data["tool_call_id"]:
            return None  # a later addRecipe for the same recipe won; this one changed nothing
        return schemas.RECIPE_CREATED, {**ref, "name": args["name"], "description": args["description"],
                                        "model_recipe_id": args["id"]}
    if event.type == schemas.TOOLCALL_ADD_INGREDIENT:
        return schemas.RECIPE_INGREDIENT_ADDED, {**ref, "ingredient": args["ingredient"],
                                                 "quantity": args["quantity"]}
    return schemas.RECIPE_STEP_ADDED, {**ref, "step_number": args["step_number"],
                                       "instructions": args["instructions"]}


def recorded_events(events: Iterable[CloudEvent], recorded_since: datetime) -> list[CloudEvent]:
    """One ``events.recorded`` per generation of a batch whose events are now in generation_events.

    A hint for live views (the gateway's SSE streams, services/gateway/live.py): they re-read
    MongoDB, the source of truth, when it arrives, from ``recorded_since`` (at or before the
    batch's ``recorded_at``): a narrow read, however late the batch became visible. The id is
    derived from the generation's last event in the batch, so a replayed batch announces under the
    same id.
    """
    # BSON dates keep milliseconds: the bound is cut to them, so it is never after the stored stamp.
    since = recorded_since.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    last: dict[str, CloudEvent] = {}
    counts: dict[str, int] = {}
    for event in events:
        generation_id = event.data["generation_id"]
        last[generation_id] = event
        counts[generation_id] = counts.get(generation_id, 0) + 1
    return [CloudEvent(id=derived_event_id(generation_id, schemas.EVENTS_RECORDED, event.id),
                       type=schemas.EVENTS_RECORDED, source=SOURCE, subject=generation_id,
                       data={"generation_id": generation_id, "last_event_id": event.id,
                             "events": counts[generation_id], "recorded_since": since},
                       traceparent=event.traceparent)
            for generation_id, event in last.items()]
