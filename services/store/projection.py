"""The reference semantics of the store's changes, applied to plain dicts in memory.

No I/O. ``mongo.py`` must produce the same documents in MongoDB (a contract
test checks it); unit tests use this to show that replays and reordering
cannot change the result.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from services.common.events import CloudEvent
from services.store.domain import (
    STATUS_RANK, AddItem, Change, DescribeRecipe, TouchRecipe, UpdateGeneration, changes_for, keywords,
)

State = dict[str, dict[str, dict[str, Any]]]  # {"recipes": {id: doc}, "generations": {id: doc}}


def empty_state() -> State:
    return {"recipes": {}, "generations": {}}


def project(events: Iterable[CloudEvent], state: State | None = None) -> State:
    """Apply every event's changes, then complete the recipes of completed generations."""
    state = state if state is not None else empty_state()
    for event in events:
        for change in changes_for(event):
            apply(state, change)
    for generation in state["generations"].values():
        if generation.get("owner"):  # a recipe belongs to its generation's owner, in any event order
            for doc in state["recipes"].values():
                if doc["generation_id"] == generation["_id"]:
                    doc["owner"] = generation["owner"]
        if generation["status"] == "completed":
            complete_recipes(state, generation["_id"], generation["completed_at"])
    return state


def apply(state: State, change: Change) -> None:
    if isinstance(change, TouchRecipe):
        doc = state["recipes"].setdefault(change.recipe_id, {
            "_id": change.recipe_id, "slug": change.slug, "generation_id": change.generation_id,
            "status": "draft", "keywords": list(keywords(change.slug)), "ingredients": [], "steps": [],
        })
        _min(doc, "created_at", change.at)
        _max(doc, "updated_at", change.at)
    elif isinstance(change, DescribeRecipe):
        doc = state["recipes"][change.recipe_id]
        if "described_at" not in doc or (doc["described_at"], doc["described_by"]) < (change.at, change.tool_call_id):
            doc.update(name=change.name, description=change.description, keywords=list(change.keywords),
                       described_at=change.at, described_by=change.tool_call_id)
    elif isinstance(change, AddItem):
        items = state["recipes"][change.recipe_id][change.kind]
        if all(item["tool_call_id"] != change.item["tool_call_id"] for item in items):
            items.append(dict(change.item))
            items.sort(key=lambda item: tuple(item[name] for name in change.order))
    elif isinstance(change, UpdateGeneration):
        _apply_generation(state, change)
    else:  # pragma: no cover - a new change type without a rule here is a bug
        raise TypeError(f"unknown change {change!r}")


def _apply_generation(state: State, change: UpdateGeneration) -> None:
    doc = state["generations"].setdefault(change.generation_id, {
        "_id": change.generation_id, "status": "requested", "status_rank": 0, "recipe_ids": [],
    })
    doc.update(change.fields)
    _max(doc, "updated_at", change.at)
    if change.status and doc["status_rank"] < STATUS_RANK[change.status]:
        doc.update(status=change.status, status_rank=STATUS_RANK[change.status])
    if change.recipe_id and change.recipe_id not in doc["recipe_ids"]:
        doc["recipe_ids"] = sorted([*doc["recipe_ids"], change.recipe_id])
    if change.requested_model is not None:
        doc["requested_model"] = change.requested_model
        if "started_at" not in doc:
            doc["model"] = change.requested_model


def complete_recipes(state: State, generation_id: str, completed_at: datetime) -> None:
    for doc in state["recipes"].values():
        if doc["generation_id"] == generation_id and doc["status"] != "complete":
            doc.update(status="complete", completed_at=completed_at)


def _min(doc: dict[str, Any], name: str, value: datetime) -> None:
    if name not in doc or value < doc[name]:
        doc[name] = value


def _max(doc: dict[str, Any], name: str, value: datetime) -> None:
    if name not in doc or value > doc[name]:
        doc[name] = value
