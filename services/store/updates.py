"""The domain's changes as MongoDB update operations (pymongo values, no I/O).

Each operation is idempotent on its own. SecantusDB (and mongod) pay per
update of a document, so a batch's changes are coalesced: one upsert per
recipe and per generation, one guarded ``$push`` per recipe and array.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from pymongo import UpdateOne

from services.store.domain import STATUS_RANK, AddItem, DescribeRecipe, TouchRecipe, UpdateGeneration, keywords


def touch_recipe(group: Sequence[TouchRecipe]) -> UpdateOne:
    """Create the recipe if needed (scalars only: findings B3); one upsert covers a batch's changes."""
    first = group[0]
    return UpdateOne({"_id": first.recipe_id}, {
        "$setOnInsert": {"slug": first.slug, "generation_id": first.generation_id, "status": "draft",
                         "keywords": list(keywords(first.slug)), "ingredients": [], "steps": []},
        "$min": {"created_at": min(c.at for c in group)},
        "$max": {"updated_at": max(c.at for c in group)},
    }, upsert=True)


def describe_recipe(change: DescribeRecipe) -> UpdateOne:
    """Set name and description unless a later (at, tool_call_id) already did."""
    newer = {"$or": [{"described_at": {"$exists": False}}, {"described_at": {"$lt": change.at}},
                     {"described_at": change.at, "described_by": {"$lt": change.tool_call_id}}]}
    return UpdateOne({"_id": change.recipe_id, **newer}, {"$set": {
        "name": change.name, "description": change.description, "keywords": list(change.keywords),
        "described_at": change.at, "described_by": change.tool_call_id}})


def missing_items(adds: Iterable[AddItem], present: Mapping[str, Mapping[str, set[str]]]) -> dict[tuple[str, str], list[AddItem]]:
    """The adds whose tool call is not yet in its recipe's array, grouped by (recipe id, array)."""
    missing: dict[tuple[str, str], list[AddItem]] = {}
    for add in adds:
        seen = present.get(add.recipe_id, {}).get(add.kind, set())
        group = missing.setdefault((add.recipe_id, add.kind), [])
        call = add.item["tool_call_id"]
        if call not in seen and all(other.item["tool_call_id"] != call for other in group):
            group.append(add)
    return {key: group for key, group in missing.items() if group}


def push_items(recipe_id: str, kind: str, adds: Sequence[AddItem]) -> UpdateOne:
    """Push the items, kept sorted, only if none of their tool calls is there yet (else: re-read, retry)."""
    calls = [add.item["tool_call_id"] for add in adds]
    order = {name: 1 for name in adds[0].order}
    return UpdateOne({"_id": recipe_id, f"{kind}.tool_call_id": {"$nin": calls}},
                     {"$push": {kind: {"$each": [dict(add.item) for add in adds], "$sort": order}}})


def generation_updates(group: Sequence[UpdateGeneration]) -> list[UpdateOne]:
    """One upsert per generation per batch (with the recipe links), the sort, the guarded status step."""
    gid = group[0].generation_id
    fields: dict[str, Any] = {}
    for change in group:
        fields.update(change.fields)
    recipe_ids = sorted({c.recipe_id for c in group if c.recipe_id})
    upsert: dict[str, Any] = {
        "$setOnInsert": {"status": "requested", "status_rank": 0},
        "$max": {"updated_at": max(c.at for c in group)},
        "$addToSet": {"recipe_ids": {"$each": recipe_ids}},  # a set of ids: idempotent
    }
    if fields:
        upsert["$set"] = fields
    ops = [UpdateOne({"_id": gid}, upsert, upsert=True)]
    if recipe_ids:
        ops.append(UpdateOne({"_id": gid}, {"$push": {"recipe_ids": {"$each": [], "$sort": 1}}}))
    status = max((c.status for c in group if c.status), key=STATUS_RANK.__getitem__, default=None)
    if status and STATUS_RANK[status] > 0:
        ops.append(UpdateOne({"_id": gid, "status_rank": {"$lt": STATUS_RANK[status]}},
                             {"$set": {"status": status, "status_rank": STATUS_RANK[status]}}))
    for model in [c.requested_model for c in group if c.requested_model is not None][-1:]:
        ops.append(UpdateOne({"_id": gid}, {"$set": {"requested_model": model}}))
        ops.append(UpdateOne({"_id": gid, "started_at": {"$exists": False}}, {"$set": {"model": model}}))
    return ops
