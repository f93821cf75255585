"""The domain's changes as MongoDB update operations (pymongo values, no I/O).

Each operation is idempotent on its own. SecantusDB pays per update of a
document (it rewrites the document and all its index entries), so a batch's changes
are coalesced: one upsert per recipe (scalars, missing items and description together) and
per generation (fields, status step, links and model together), whatever it needs to write only
on a change guarded in its filter.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from pymongo import UpdateOne

from services.store.domain import STATUS_RANK, AddItem, DescribeRecipe, TouchRecipe, UpdateGeneration, keywords


def upsert_recipe(group: Sequence[TouchRecipe], missing: Mapping[str, Sequence[AddItem]],
                  completed_at: datetime | None = None, owner: str | None = None,
                  namespace: str | None = None, describe: DescribeRecipe | None = None,
                  shown: Mapping[str, Any] | None = None) -> UpdateOne:
    """One write per recipe per batch: create it if needed, push the batch's missing items,
    when its generation is completed (``completed_at``) mark it complete and, given the batch's
    latest addRecipe (``describe``, not outranked by the recipe as read, ``shown``), set its name
    and description, all in the same write.

    SecantusDB pays dearly for several updates of one document in a row, so the
    scalars and the pushes go in one upsert. The filter guards every pushed
    tool call: should another writer have pushed one meanwhile, the filter
    misses, the upsert collides with the existing _id (E11000, docs/data-model.md) and
    the caller re-reads and retries; nothing is ever pushed twice. The description is guarded the
    same way: its filter is the one of ``describe_recipe``'s two guarded updates that the read shows
    to hold (a later addRecipe written meanwhile makes it miss, and the batch re-reads).
    """
    first = group[0]
    guard: dict[str, Any] = {f"{kind}.tool_call_id": {"$nin": [add.item["tool_call_id"] for add in adds]}
                             for kind, adds in missing.items()}
    on_insert: dict[str, Any] = {"slug": first.slug, "generation_id": first.generation_id, "status": "draft",
                                 "keywords": list(keywords(first.slug))}
    on_insert.update({kind: [] for kind in ("ingredients", "steps") if kind not in missing})
    if owner:  # the generation's owner, when already known (else persist stamps it afterwards)
        on_insert["owner"] = owner
    update: dict[str, Any] = {
        "$setOnInsert": on_insert,
        "$min": {"created_at": min(c.at for c in group)},
        "$max": {"updated_at": max(c.at for c in group)},
    }
    if completed_at is not None:  # what complete_recipes' UpdateMany would do next, without a second write
        del on_insert["status"]
        update["$set"] = {"status": "complete", "completed_at": completed_at}
    if missing:
        update["$push"] = {kind: {"$each": [dict(add.item) for add in adds], "$sort": {n: 1 for n in adds[0].order}}
                           for kind, adds in missing.items()}
    if describe is not None:
        guard.update(_description_guard(describe, shown))
        del on_insert["keywords"]
        update.setdefault("$set", {}).update(_description(describe))
    return UpdateOne({"_id": first.recipe_id, **guard}, update, upsert=True, namespace=namespace)


def _description(change: DescribeRecipe) -> dict[str, Any]:
    return {"name": change.name, "description": change.description, "keywords": list(change.keywords),
            "described_at": change.at, "described_by": change.tool_call_id}


def _description_guard(change: DescribeRecipe, shown: Mapping[str, Any] | None) -> dict[str, Any]:
    """Which of ``describe_recipe``'s two guards the read (``shown``) says lets ``change`` write."""
    if shown and shown.get("described_at") == change.at:
        return {"described_at": change.at, "described_by": {"$lt": change.tool_call_id}}
    return {"described_at": {"$not": {"$gte": change.at}}}


def describe_recipe(change: DescribeRecipe, namespace: str | None = None) -> list[UpdateOne]:
    """Set name and description unless a later (at, tool_call_id) already did.

    Two guarded updates instead of one ``$or`` filter: SecantusDB answers an
    ``$or`` with a collection scan even next to an ``_id`` (docs/data-model.md: 20 s
    for 300 updates of a 3,000-document collection). The guards exclude each other,
    and after either one wrote, the other one's guard misses.
    """
    fields = _description(change)
    return [UpdateOne({"_id": change.recipe_id, "described_at": {"$not": {"$gte": change.at}}}, {"$set": fields},
                      namespace=namespace),
            UpdateOne({"_id": change.recipe_id, "described_at": change.at,
                       "described_by": {"$lt": change.tool_call_id}}, {"$set": fields}, namespace=namespace)]


def outranked(change: DescribeRecipe, seen: Mapping[str, Any] | None) -> bool:
    """Whether the recipe as read (``seen``) already shows a later addRecipe: then ``change`` can never
    win (the described key only grows), so its updates can be left out."""
    if not seen:
        return False
    return "described_at" in seen and (
        (seen["described_at"], seen["described_by"]) >= (change.at, change.tool_call_id))


# At most this many ingredients, and as many steps, per recipe: a runaway model must not grow a
# recipe document toward MongoDB's 16 MB limit (docs/data-model.md). Items past it are refused.
MAX_ITEMS_PER_RECIPE = 1000


def missing_items(adds: Iterable[AddItem], present: Mapping[str, Mapping[str, set[str]]],
                  bound: int | None = None) -> tuple[dict[str, dict[str, list[AddItem]]], list[AddItem]]:
    """The adds whose tool call is not yet in its recipe's array (recipe id -> array -> adds), and the
    adds refused because their array already holds ``bound`` items (counting the batch's own)."""
    bound = MAX_ITEMS_PER_RECIPE if bound is None else bound
    missing: dict[str, dict[str, list[AddItem]]] = {}
    refused: list[AddItem] = []
    for add in adds:
        call = add.item["tool_call_id"]
        held = present.get(add.recipe_id, {}).get(add.kind, set())
        if call in held:
            continue
        group = missing.setdefault(add.recipe_id, {}).setdefault(add.kind, [])
        if any(other.item["tool_call_id"] == call for other in group):
            continue
        if len(held) + len(group) >= bound:
            refused.append(add)
        else:
            group.append(add)
    return {rid: {kind: adds for kind, adds in kinds.items() if adds} for rid, kinds in missing.items()}, refused


def generation_upsert(group: Sequence[UpdateGeneration], seen: Mapping[str, Any] | None = None,
                      namespace: str | None = None) -> UpdateOne:
    """One write per generation per batch: its fields, ``$max`` of ``updated_at`` and what
    ``generation_guards`` would write next (status, recipe links, model), so that SecantusDB writes
    the document once, not two or three times in a row.

    ``seen``: the generation as read earlier in this batch. Absent (None), it is probably inserted
    now, and the insert carries status, links and model; whether it was inserted is only known from
    the write's result: the caller runs the guards for any that was not. Read, the guarded updates
    that the read shows to be needed go into this write, their guards into its filter: should another
    writer have changed one of them meanwhile, the filter misses, the upsert collides with the
    existing _id (E11000) and the caller re-reads and retries, as for a recipe's pushed items.
    """
    fields: dict[str, Any] = {}
    for change in group:
        fields.update(change.fields)
        if change.requested_model is not None:
            fields["requested_model"] = change.requested_model
    on_insert: dict[str, Any] = {"status": "requested", "status_rank": 0, "recipe_ids": []}
    upsert: dict[str, Any] = {"$setOnInsert": on_insert, "$max": {"updated_at": max(c.at for c in group)}}
    guard: dict[str, Any] = {}
    status = _status(group)
    linked = sorted({c.recipe_id for c in group if c.recipe_id} - set((seen or {}).get("recipe_ids", ())))
    models = [c.requested_model for c in group if c.requested_model is not None]
    if seen is None:
        if status:
            on_insert.update(status=status, status_rank=STATUS_RANK[status])
        on_insert["recipe_ids"] = linked
        if "started_at" not in fields and models:  # the last one given
            on_insert["model"] = models[-1]
    else:
        if status and STATUS_RANK[status] > seen.get("status_rank", 0):
            guard["status_rank"] = {"$lt": STATUS_RANK[status]} if "status_rank" in seen else {"$exists": False}
            fields.update(status=status, status_rank=STATUS_RANK[status])
            del on_insert["status"], on_insert["status_rank"]
        if linked:
            guard["recipe_ids"] = {"$nin": linked}
            upsert["$push"] = {"recipe_ids": {"$each": linked, "$sort": 1}}
            del on_insert["recipe_ids"]
        # started_at read, or set by this group's upsert: the model guard would miss.
        if models and "started_at" not in seen and not any("started_at" in c.fields for c in group):
            guard["started_at"] = {"$exists": False}
            fields["model"] = models[-1]
    if fields:
        upsert["$set"] = fields
    return UpdateOne({"_id": group[0].generation_id, **guard}, upsert, upsert=True, namespace=namespace)


def generation_guards(group: Sequence[UpdateGeneration], seen: Mapping[str, Any] | None = None,
                      namespace: str | None = None) -> list[UpdateOne]:
    """The guarded updates that write only when they change something: recipe links, the status step,
    the requested model; sent on their own after the upsert of a generation that was absent when read
    and that another writer inserted before this batch's upsert (``generation_upsert`` folds them).

    ``seen``: the generation as read earlier in this batch (or None). Its status rank, recipe ids and
    ``started_at`` only ever grow, so a guarded update that the read already shows to be a no-op
    would miss now too, and is left out (the guards stay for whatever the read did not show).
    """
    gid = group[0].generation_id
    seen = seen or {}
    ops = []
    linked = set(seen.get("recipe_ids", ()))
    for recipe_id in sorted({c.recipe_id for c in group if c.recipe_id} - linked):
        ops.append(UpdateOne({"_id": gid, "recipe_ids": {"$ne": recipe_id}},
                             {"$push": {"recipe_ids": {"$each": [recipe_id], "$sort": 1}}}, namespace=namespace))
    status = _status(group)
    if status and STATUS_RANK[status] > seen.get("status_rank", 0):
        ops.append(UpdateOne({"_id": gid, "status_rank": {"$lt": STATUS_RANK[status]}},
                             {"$set": {"status": status, "status_rank": STATUS_RANK[status]}}, namespace=namespace))
    # started_at read, or set by this group's upsert: the model guard would miss.
    started = "started_at" in seen or any("started_at" in c.fields for c in group)
    for model in [c.requested_model for c in group if c.requested_model is not None][-1:]:
        if not started:
            ops.append(UpdateOne({"_id": gid, "started_at": {"$exists": False}}, {"$set": {"model": model}},
                                 namespace=namespace))
    return ops


def _status(group: Sequence[UpdateGeneration]) -> str | None:
    """The highest status the group gives evidence of, if above ``requested``."""
    status = max((c.status for c in group if c.status), key=STATUS_RANK.__getitem__, default=None)
    return status if status and STATUS_RANK[status] > 0 else None
