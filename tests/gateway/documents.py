"""Fixture data for a reader: documents shaped exactly as docs/data-model.md says the store writes them."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo.database import Database

from services.common.events import derived_event_id, now_iso
from services.common.schemas import recipe_id_for

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
_last_recorded = T0


def insert_generation(db: Database, generation_id: str | None = None, *, status: str = "running",
                      **fields: Any) -> str:
    generation_id = generation_id or str(uuid.uuid4())
    doc = {"_id": generation_id, "prompt": "A soup", "model": "gpt-4-1106-preview", "instructions": None,
           "status": status, "backend": "assistants", "recipe_ids": [], "requested_at": T0,
           "started_at": T0 + timedelta(seconds=1), "updated_at": T0 + timedelta(seconds=2), **fields}
    db.generations.insert_one(doc)
    return generation_id


def insert_recipe(db: Database, generation_id: str, slug: str, name: str, *, minutes: int = 0,
                  ingredients: list[tuple[str, str]] = (), steps: list[str] = (),
                  status: str = "complete") -> str:
    recipe_id = recipe_id_for(generation_id, slug)
    created = T0 + timedelta(minutes=minutes)
    db.recipes.insert_one({
        "_id": recipe_id, "slug": slug, "generation_id": generation_id, "name": name,
        "description": f"{name}, as the model wrote it.",
        "keywords": sorted({*name.lower().split(), *slug.split("_")}),
        "ingredients": [{"ingredient": i, "quantity": q, "tool_call_id": f"call_i{n}"}
                        for n, (q, i) in enumerate(ingredients)],
        "steps": [{"step_number": n, "instructions": text, "tool_call_id": f"call_s{n}"}
                  for n, text in enumerate(steps, start=1)],
        "status": status, "created_at": created, "updated_at": created,
    })
    db.generations.update_one({"_id": generation_id}, {"$push": {"recipe_ids": recipe_id}})
    return recipe_id


def insert_event(db: Database, generation_id: str, event_type: str, data: dict[str, Any], *,
                 call: str | None = None, recorded_at: datetime | None = None) -> str:
    """One generation_events document, recorded now (the SSE stream's source).

    BSON dates have millisecond precision; each fixture event gets its own
    millisecond so that (recorded_at, _id) order is insertion order, as when the store records them.
    """
    global _last_recorded
    if recorded_at is None:  # else a given time (e.g. a write that became visible late)
        recorded_at = max(datetime.now(timezone.utc), _last_recorded + timedelta(milliseconds=1))
        _last_recorded = recorded_at = recorded_at.replace(microsecond=recorded_at.microsecond // 1000 * 1000)
    event_id = derived_event_id(generation_id, call or str(uuid.uuid4()))
    db.generation_events.insert_one({"_id": event_id, "generation_id": generation_id, "type": event_type,
                                     "data": {"generation_id": generation_id, **data}, "time": now_iso(),
                                     "recorded_at": recorded_at})
    return event_id
