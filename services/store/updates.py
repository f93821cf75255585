"""The domain's changes as MongoDB update operations (pymongo values, no I/O).

Each operation is idempotent on its own. SecantusDB pays per update of a
document (several in a row on one document are slow), so a batch's changes
are coalesced: one upsert per recipe (scalars and missing items together) and
per generation, plus guarded updates that write only when they change something.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from pymongo import UpdateOne

from services.store.domain import STATUS_RANK, AddItem, DescribeRecipe, TouchRecipe, UpdateGeneration, keywords


def upsert_recipe(group: Sequence[TouchRecipe], missing: Mapping[str, Sequence[AddItem]]) -> UpdateOne:
    """One write per recipe per batch: create it if needed and push the batch's missing items.

    SecantusDB pays dearly for several updates of one document in a row, so the
    scalars and the pushes go in one upsert. The filter guards every pushed
    tool call: should another writer have pushed one meanwhile, the filter
    misses, the upsert collides with the existing _id (E11000, findings B3) and
    the caller re-reads and retries; nothing is ever pushed twice.
    """
    first = group[0]
    guard = {f"{kind}.tool_call_id": {"$nin": [add.item["tool_call_id"] for add in adds]}
             for kind, adds in missing.items()}
    on_insert: dict[str, Any] = {"slug": first.slug, "generation_id": first.generation_id, "status": "draft",
                                 "keywords": list(keywords(first.slug))}
    on_insert.update({kind: [] for kind in ("ingredients", "steps") if kind not in missing})
    update: dict[str, Any] = {
        "$setOnInsert": on_insert,
        "$min": {"created_at": min(c.at for c in group)},
        "$max": {"updated_at": max(c.at for c in group)},
    }
    if missing:
        update["$push"] = {kind: {"$each": [dict(add.item) for add in adds], "$sort": {n: 1 for n in adds[0].order}}
                           for kind, adds in missing.items()}
    return UpdateOne({"_id": first.recipe_id, **guard}, update, upsert=True)


def describe_recipe(change: DescribeRecipe) -> UpdateOne:
    """Set name and description unless a later (at, tool_call_id) already did."""
    newer = {"$or": [{"described_at": {"$exists": False}}, {"described_at": {"$lt": change.at}},
                     {"described_at": change.at, "described_by": {"$lt": change.tool_call_id}}]}
    return UpdateOne({"_id": change.recipe_id, **newer}, {"$set": {
        "name": change.name, "description": change.description, "keywords": list(change.keywords),
        "described_at": change.at, "described_by": change.tool_call_id}})


def missing_items(adds: Iterable[AddItem], present: Mapping[str, Mapping[str, set[str]]]
                  ) -> dict[str, dict[str, list[AddItem]]]:
    """The adds whose tool call is not yet in its recipe's array: recipe id -> array -> adds."""
    missing: dict[str, dict[str, list[AddItem]]] = {}
    for add in adds:
        call = add.item["tool_call_id"]
        if call in present.get(add.recipe_id, {}).get(add.kind, set()):
            continue
        group = missing.setdefault(add.recipe_id, {}).setdefault(add.kind, [])
        if all(other.item["tool_call_id"] != call for other in group):
            group.append(add)
    return missing


def generation_updates(group: Sequence[UpdateGeneration]) -> list[UpdateOne]:
    """One upsert per generation per batch (with the recipe links), the sort, the guarded status step."""
    gid = group[0].generation_id
    fields: dict[str, Any] = {}
    for change in group:
        fields.update(change.fields)
        if change.requested_model is not None:
            fields["requested_model"] = change.requested_model
    upsert: dict[str, Any] = {
        "$setOnInsert": {"status": "requested", "status_rank": 0, "recipe_ids": []},
        "$max": {"updated_at": max(c.at for c in group)},
    }
    if fields:
        upsert["$set"] = fields
    ops = [UpdateOne({"_id": gid}, upsert, upsert=True)]
    # Guarded updates write only when they change something (a document written twice in a row is slow).
    for recipe_id in sorted({c.recipe_id for c in group if c.recipe_id}):
        ops.append(UpdateOne({"_id": gid, "recipe_ids": {"$ne": recipe_id}},
                             {"$push": {"recipe_ids": {"$each": [recipe_id], "$sort": 1}}}))
    status = max((c.status for c in group if c.status), key=STATUS_RANK.__getitem__, default=None)
    if status and STATUS_RANK[status] > 0:
        ops.append(UpdateOne({"_id": gid, "status_rank": {"$lt": STATUS_RANK[status]}},
                             {"$set": {"status": status, "status_rank": STATUS_RANK[status]}}))
    for model in [c.requested_model for c in group if c.requested_model is not None][-1:]:
        ops.append(UpdateOne({"_id": gid, "started_at": {"$exists": False}}, {"$set": {"model": model}}))
    return ops
