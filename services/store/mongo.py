"""The MongoDB adapter: collections, indexes, durable writes (w=majority, j=True) and read-backs.

A batch of changes costs a handful of round trips, not one per event
(``updates.py`` coalesces them): the generation upserts, the recipe upserts
(scalars only, findings B3), a read of the tool calls already in the recipes,
then one guarded ``$push`` per recipe and array for the missing ones.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateMany
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from services.common.events import CloudEvent
from services.common.mongo import DURABLE
from services.store import updates
from services.store.domain import AddItem, Change, DescribeRecipe, TouchRecipe, UpdateGeneration

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

    def apply_generations(self, changes: Sequence[Change]) -> None:
        """One upsert per generation, then guarded updates that write only on a change."""
        groups: dict[str, list[UpdateGeneration]] = {}
        for change in changes:
            if isinstance(change, UpdateGeneration):
                groups.setdefault(change.generation_id, []).append(change)
        _bulk_write(self.generations, [op for group in groups.values() for op in updates.generation_updates(group)])

    def apply_recipes(self, changes: Sequence[Change], attempts: int = 5) -> None:
        """One upsert per recipe (scalars and the missing items), then the descriptions."""
        touches: dict[str, list[TouchRecipe]] = {}
        describes: list[Any] = []
        adds: list[AddItem] = []
        for change in changes:
            if isinstance(change, TouchRecipe):
                touches.setdefault(change.recipe_id, []).append(change)
            elif isinstance(change, DescribeRecipe):
                describes.append(updates.describe_recipe(change))
            elif isinstance(change, AddItem):
                adds.append(change)
        for attempt in range(1, attempts + 1):
            missing = updates.missing_items(adds, self._item_calls({add.recipe_id for add in adds}))
            ops = [updates.upsert_recipe(group, missing.get(rid, {})) for rid, group in touches.items()]
            if not ops + describes:
                return
            try:
                self.recipes.bulk_write(ops + describes, ordered=True)
                return
            except BulkWriteError as error:
                codes = {err.get("code") for err in error.details.get("writeErrors", [])}
                if codes != {DUPLICATE_KEY} or attempt == attempts:
                    raise
                # another writer created the recipe or pushed one of these tool calls: re-read, retry

    def _item_calls(self, recipe_ids: set[str]) -> dict[str, dict[str, set[str]]]:
        """For each recipe, the tool call ids already in its ingredients and steps."""
        if not recipe_ids:
            return {}
        cursor = self.recipes.find({"_id": {"$in": sorted(recipe_ids)}},
                                   {"ingredients.tool_call_id": 1, "steps.tool_call_id": 1})
        return {doc["_id"]: {kind: {item["tool_call_id"] for item in doc.get(kind, [])}
                             for kind in ("ingredients", "steps")} for doc in cursor}

    def log(self, events: Sequence[CloudEvent]) -> None:
        """Record applied events in generation_events.

        A duplicate ``_id`` is a replayed event already recorded: success. Any
        other error (another index, a write concern error) fails the batch."""
        now = datetime.now(timezone.utc)
        docs = [{"_id": e.id, "generation_id": e.data["generation_id"], "type": e.type, "data": dict(e.data),
                 "time": e.time, "recorded_at": now} for e in events]
        try:
            self.events.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            if any(err.get("code") != DUPLICATE_KEY or err.get("keyPattern", {"_id": 1}) != {"_id": 1}
                   for err in error.details.get("writeErrors", [])):
                raise
            if error.details.get("writeConcernErrors"):
                raise

    def complete_recipes(self, completed: Mapping[str, datetime]) -> None:
        """Mark the recipes of completed generations complete (generation id -> its completed_at)."""
        _bulk_write(self.recipes, [
            UpdateMany({"generation_id": gid, "status": {"$ne": "complete"}},
                       {"$set": {"status": "complete", "completed_at": at}}) for gid, at in sorted(completed.items())])

    def find_generations(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        cursor = self.generations.find({"_id": {"$in": sorted(set(ids))}},
                                       {"status": 1, "completed_at": 1})
        return {doc["_id"]: doc for doc in cursor}

    def find_recipes(self, ids: Iterable[str], generation_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The recipes with these ids and all recipes of these generations (two indexed queries:
        SecantusDB answers an $or of the two with a collection scan)."""
        projection = {"generation_id": 1, "described_by": 1, "ingredients.tool_call_id": 1,
                      "steps.tool_call_id": 1}
        found: dict[str, dict[str, Any]] = {}
        for query in ({"_id": {"$in": sorted(set(ids))}}, {"generation_id": {"$in": sorted(set(generation_ids))}}):
            if next(iter(query.values()))["$in"]:
                found.update((doc["_id"], doc) for doc in self.recipes.find(query, projection))
        return found


def _bulk_write(collection: Collection, ops: list[Any], attempts: int = 3) -> int:
    """Ordered bulk write; returns how many operations matched a document.

    An upsert racing another store process's upsert of the same _id gets E11000
    (mongod): the document exists now, so the same idempotent batch succeeds when run again."""
    if not ops:
        return 0
    for attempt in range(1, attempts + 1):
        try:
            result = collection.bulk_write(ops, ordered=True)
            return result.matched_count + result.upserted_count
        except BulkWriteError as error:
            codes = {err.get("code") for err in error.details.get("writeErrors", [])}
            if codes != {DUPLICATE_KEY} or attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
