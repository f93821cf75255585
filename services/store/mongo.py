"""The MongoDB adapter: the domain's changes as pymongo updates, durable (w=majority, j=True).

Each change becomes updates that are idempotent on their own (findings B3: an
upsert that sets only scalar fields, then guarded updates without upsert),
written in one ordered ``bulk_write`` per collection, so a batch of events
costs a few round trips, not one per event.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from services.common.events import CloudEvent
from services.common.mongo import DURABLE
from services.store.domain import (
    STATUS_RANK, AddItem, Change, DescribeRecipe, TouchRecipe, UpdateGeneration, keywords,
)

DUPLICATE_KEY = 11000
RECIPE_INDEXES = [
    IndexModel([("generation_id", ASCENDING), ("slug", ASCENDING)], unique=True, name="generation_slug"),
    IndexModel([("keywords", ASCENDING)], name="keywords"),
    IndexModel([("ingredients.ingredient", ASCENDING)], name="ingredient"),
    IndexModel([("created_at", DESCENDING)], name="created_at"),
]
GENERATION_INDEXES = [IndexModel([("status", ASCENDING), ("updated_at", DESCENDING)], name="status_updated")]
EVENT_INDEXES = [IndexModel([("generation_id", ASCENDING), ("recorded_at", ASCENDING), ("_id", ASCENDING)],
                            name="generation_recorded")]


class StoreDatabase:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.recipes = db.get_collection("recipes", write_concern=DURABLE)
        self.generations = db.get_collection("generations", write_concern=DURABLE)
        self.events = db.get_collection("generation_events", write_concern=DURABLE)

    def ensure_indexes(self) -> None:
        self.recipes.create_indexes(RECIPE_INDEXES)
        self.generations.create_indexes(GENERATION_INDEXES)
        self.events.create_indexes(EVENT_INDEXES)

    def ping(self) -> bool:
        self.db.client.admin.command("ping")
        return True

    def apply(self, changes: Sequence[Change]) -> None:
        """Write every change durably. Ordered: each guarded update follows the upsert it needs."""
        generations: dict[str, list[UpdateGeneration]] = {}
        touches: dict[str, list[TouchRecipe]] = {}
        recipe_ops: list[Any] = []
        for change in changes:
            if isinstance(change, UpdateGeneration):
                generations.setdefault(change.generation_id, []).append(change)
            elif isinstance(change, TouchRecipe):
                touches.setdefault(change.recipe_id, []).append(change)
            else:
                recipe_ops.append(recipe_update(change))
        generation_ops = [op for group in generations.values() for op in generation_updates(group)]
        recipe_ops[:0] = [touch_recipe(group) for group in touches.values()]
        for collection, ops in ((self.generations, generation_ops), (self.recipes, recipe_ops)):
            if ops:
                _bulk_write(collection, ops)

    def log(self, events: Sequence[CloudEvent]) -> None:
        """Record applied events in generation_events; a replayed event id is already there (not an error)."""
        now = datetime.now(timezone.utc)
        docs = [{"_id": e.id, "generation_id": e.data["generation_id"], "type": e.type, "data": dict(e.data),
                 "time": e.time, "recorded_at": now} for e in events]
        try:
            self.events.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            if any(err.get("code") != DUPLICATE_KEY for err in error.details.get("writeErrors", [])):
                raise
            if error.details.get("writeConcernErrors"):
                raise

    def complete_recipes(self, generation_id: str, completed_at: datetime) -> None:
        self.recipes.update_many({"generation_id": generation_id, "status": {"$ne": "complete"}},
                                 {"$set": {"status": "complete", "completed_at": completed_at}})

    def find_generations(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        cursor = self.generations.find({"_id": {"$in": sorted(set(ids))}},
                                       {"status": 1, "completed_at": 1})
        return {doc["_id"]: doc for doc in cursor}

    def find_recipes(self, ids: Iterable[str], generation_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        query = {"$or": [{"_id": {"$in": sorted(set(ids))}},
                         {"generation_id": {"$in": sorted(set(generation_ids))}}]}
        projection = {"generation_id": 1, "described_by": 1, "ingredients.tool_call_id": 1,
                      "steps.tool_call_id": 1}
        return {doc["_id"]: doc for doc in self.recipes.find(query, projection)}


def _bulk_write(collection: Collection, ops: list[Any], attempts: int = 3) -> None:
    """An upsert racing another store process's upsert of the same _id gets E11000 (mongod):
    the document exists now, so the same (idempotent) batch succeeds when run again."""
    for attempt in range(1, attempts + 1):
        try:
            collection.bulk_write(ops, ordered=True)
            return
        except BulkWriteError as error:
            codes = {err.get("code") for err in error.details.get("writeErrors", [])}
            if codes != {DUPLICATE_KEY} or attempt == attempts:
                raise


def touch_recipe(group: Sequence[TouchRecipe]) -> UpdateOne:
    """Create the recipe if needed; one upsert covers all of a batch's changes to that recipe."""
    first = group[0]
    return UpdateOne({"_id": first.recipe_id}, {
        "$setOnInsert": {"slug": first.slug, "generation_id": first.generation_id, "status": "draft",
                         "keywords": list(keywords(first.slug)), "ingredients": [], "steps": []},
        "$min": {"created_at": min(c.at for c in group)},
        "$max": {"updated_at": max(c.at for c in group)},
    }, upsert=True)


def recipe_update(change: Change) -> UpdateOne:
    if isinstance(change, DescribeRecipe):
        newer = {"$or": [{"described_at": {"$exists": False}}, {"described_at": {"$lt": change.at}},
                         {"described_at": change.at, "described_by": {"$lt": change.tool_call_id}}]}
        return UpdateOne({"_id": change.recipe_id, **newer}, {"$set": {
            "name": change.name, "description": change.description, "keywords": list(change.keywords),
            "described_at": change.at, "described_by": change.tool_call_id}})
    if isinstance(change, AddItem):
        guard = {"_id": change.recipe_id, f"{change.kind}.tool_call_id": {"$ne": change.item["tool_call_id"]}}
        order = {name: 1 for name in change.order}
        return UpdateOne(guard, {"$push": {change.kind: {"$each": [dict(change.item)], "$sort": order}}})
    raise TypeError(f"not a recipe update: {change!r}")


def generation_updates(group: Sequence[UpdateGeneration]) -> list[Any]:
    """One upsert per generation per batch, then the guarded status step and the recipe links."""
    gid = group[0].generation_id
    fields: dict[str, Any] = {}
    for change in group:
        fields.update(change.fields)
    ops: list[Any] = [UpdateOne({"_id": gid}, {
        "$setOnInsert": {"status": "requested", "status_rank": 0, "recipe_ids": []},
        "$max": {"updated_at": max(c.at for c in group)},
        **({"$set": fields} if fields else {}),
    }, upsert=True)]
    status = max((c.status for c in group if c.status), key=STATUS_RANK.__getitem__, default=None)
    if status and STATUS_RANK[status] > 0:
        rank = STATUS_RANK[status]
        ops.append(UpdateOne({"_id": gid, "status_rank": {"$lt": rank}},
                             {"$set": {"status": status, "status_rank": rank}}))
    recipe_ids = sorted({c.recipe_id for c in group if c.recipe_id})
    if recipe_ids:  # a set of ids: $addToSet is idempotent, then keep it sorted
        ops.append(UpdateOne({"_id": gid}, {"$addToSet": {"recipe_ids": {"$each": recipe_ids}}}))
        ops.append(UpdateOne({"_id": gid}, {"$push": {"recipe_ids": {"$each": [], "$sort": 1}}}))
    for change in group:
        if change.requested_model is not None:
            ops.append(UpdateOne({"_id": gid}, {"$set": {"requested_model": change.requested_model}}))
            ops.append(UpdateOne({"_id": gid, "started_at": {"$exists": False}},
                                 {"$set": {"model": change.requested_model}}))
    return ops
