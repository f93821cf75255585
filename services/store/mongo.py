"""The MongoDB adapter: collections, indexes, durable writes (w=majority, j=True) and read-backs.

A batch of changes costs a handful of round trips, not one per event
(``updates.py`` coalesces them). Reads select by ``_id`` or ``generation_id``
with ``$in`` lists of at most ``IN_CHUNK`` values: SecantusDB's ``$in`` costs
grow with the square of the list (300 ids: ~90 ms in one query, ~25 ms in
chunks of 25; 1,000 ids: 0.9 s against 0.08 s).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, Sequence

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateMany, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError
from pymongo.results import BulkWriteResult

from services.common.events import CloudEvent
from services.common import vocabulary
from services.common.mongo import DUPLICATE_KEY, DURABLE
from services.store import updates
from services.store.domain import AddItem, Change, DescribeRecipe, TouchRecipe, UpdateGeneration

IN_CHUNK = 25
RECIPE_INDEXES = [
    IndexModel([("generation_id", ASCENDING), ("slug", ASCENDING)], unique=True, name="generation_slug"),
    IndexModel([("keywords", ASCENDING)], name="keywords"),
    IndexModel([("ingredients.ingredient", ASCENDING)], name="ingredient"),
    IndexModel([("created_at", DESCENDING)], name="created_at"),
    # One API key's listing (the gateway's owner filter), newest first.
    IndexModel([("owner", ASCENDING), ("created_at", DESCENDING)], name="owner_created_at"),
]
GENERATION_INDEXES = [IndexModel([("status", ASCENDING), ("updated_at", DESCENDING)], name="status_updated")]
EVENT_INDEXES = [IndexModel([("generation_id", ASCENDING), ("recorded_at", ASCENDING), ("_id", ASCENDING)],
                            name="generation_recorded")]


class StoreDatabase:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.recipes = db.get_collection(vocabulary.RECIPES, write_concern=DURABLE)
        self.generations = db.get_collection(vocabulary.GENERATIONS, write_concern=DURABLE)
        self.events = db.get_collection(vocabulary.GENERATION_EVENTS, write_concern=DURABLE)

    def ensure_indexes(self) -> None:
        self.recipes.create_indexes(RECIPE_INDEXES)
        self.generations.create_indexes(GENERATION_INDEXES)
        self.events.create_indexes(EVENT_INDEXES)

    def ping(self) -> bool:
        self.db.client.admin.command("ping")
        return True

    def apply_generations(self, changes: Sequence[Change], seen: Mapping[str, Mapping[str, Any]] | None = None
                          ) -> None:
        """One upsert per generation, then guarded updates that write only on a change (and only
        where ``seen``, the generations as read earlier, does not already show them to be no-ops).
        A generation absent from ``seen`` gets them folded into its insert instead (``updates``)."""
        groups: dict[str, list[UpdateGeneration]] = {}
        for change in changes:
            if isinstance(change, UpdateGeneration):
                groups.setdefault(change.generation_id, []).append(change)
        seen = seen or {}
        ops = [updates.generation_upsert(group, fold=gid not in seen) for gid, group in groups.items()]
        ops += [op for gid, group in groups.items() if gid in seen
                for op in updates.generation_guards(group, seen[gid])]
        result = _bulk_write(self.generations, ops)
        # Absent when read but not inserted by this write (another writer was first): the guards now.
        inserted = set((result.upserted_ids or {}).values()) if result else set()
        _bulk_write(self.generations, [op for gid, group in groups.items() if gid not in seen and gid not in inserted
                                       for op in updates.generation_guards(group)])

    def apply_recipes(self, changes: Sequence[Change], completing: Mapping[str, datetime] | None = None,
                      attempts: int = 5, owners: Mapping[str, str] | None = None) -> list[AddItem]:
        """One bulk write: one upsert per recipe (scalars, the missing items and, if its generation is
        in ``completing`` (generation id -> completed_at), its completion), the descriptions, then
        the completion of the other recipes of the completing generations."""
        completing, owners = completing or {}, owners or {}
        touches: dict[str, list[TouchRecipe]] = {}
        describes: list[DescribeRecipe] = []
        adds: list[AddItem] = []
        for change in changes:
            if isinstance(change, TouchRecipe):
                touches.setdefault(change.recipe_id, []).append(change)
            elif isinstance(change, DescribeRecipe):
                describes.append(change)
            elif isinstance(change, AddItem):
                adds.append(change)
        for attempt in range(1, attempts + 1):
            seen = self._item_calls({c.recipe_id for c in adds} | {c.recipe_id for c in describes})
            missing, refused = updates.missing_items(adds, seen)
            # A recipe of a completing generation is completed in its upsert, unless the read shows it
            # complete already (then its completed_at stays, as with the UpdateMany's guard).
            ops: list[UpdateOne | UpdateMany] = [
                updates.upsert_recipe(group, missing.get(rid, {}),
                                      None if seen.get(rid, {}).get("status") == "complete"
                                      else completing.get(group[0].generation_id),
                                      owners.get(group[0].generation_id))
                for rid, group in touches.items()]
            ops += [op for change in describes if not updates.outranked(change, seen.get(change.recipe_id))
                    for op in updates.describe_recipe(change)]
            ops += _completions(completing)
            if not ops:
                return refused
            try:
                self.recipes.bulk_write(ops, ordered=True)
                return refused
            except BulkWriteError as error:
                codes = {err.get("code") for err in error.details.get("writeErrors", [])}
                if codes != {DUPLICATE_KEY} or attempt == attempts:
                    raise
                # another writer created the recipe or pushed one of these tool calls: re-read, retry
        return []  # attempts < 1: nothing written

    def _item_calls(self, recipe_ids: set[str]) -> dict[str, dict[str, Any]]:
        """For each recipe, the tool call ids already in its ingredients and steps (sets), which
        addRecipe it shows (``described_at``, ``described_by``) and its ``status``."""
        scalars = ("described_at", "described_by", "status")
        projection = {"ingredients.tool_call_id": 1, "steps.tool_call_id": 1, **{name: 1 for name in scalars}}
        return {doc["_id"]: {**{kind: {item["tool_call_id"] for item in doc.get(kind, [])}
                                for kind in ("ingredients", "steps")},
                             **{name: doc[name] for name in scalars if name in doc}}
                for doc in _find_in(self.recipes, "_id", recipe_ids, projection)}

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

    def stamp_owners(self, owners: Mapping[str, str]) -> None:
        """Give the recipes of these generations (generation id -> owner) their owner where missing."""
        _bulk_write(self.recipes, [UpdateMany({"generation_id": gid, "owner": {"$exists": False}},
                                              {"$set": {"owner": owner}}) for gid, owner in sorted(owners.items())])

    def complete_recipes(self, completed: Mapping[str, datetime]) -> None:
        """Mark the recipes of completed generations complete (generation id -> its completed_at)."""
        _bulk_write(self.recipes, _completions(completed))

    def find_generations(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Status, completion and what the guarded updates look at (``updates.generation_guards``)."""
        projection = {"status": 1, "status_rank": 1, "completed_at": 1, "recipe_ids": 1, "started_at": 1, "owner": 1}
        return {doc["_id"]: doc for doc in _find_in(self.generations, "_id", ids, projection)}

    def find_recipes(self, ids: Iterable[str], generation_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The recipes with these ids and all recipes of these generations (separate indexed queries:
        SecantusDB answers an $or of the two with a collection scan)."""
        projection = {"generation_id": 1, "described_by": 1, "ingredients.tool_call_id": 1,
                      "steps.tool_call_id": 1}
        found = {doc["_id"]: doc for doc in _find_in(self.recipes, "_id", ids, projection)}
        found.update((doc["_id"], doc) for doc in _find_in(self.recipes, "generation_id", generation_ids, projection))
        return found


def _completions(completed: Mapping[str, datetime]) -> list[UpdateMany]:
    return [UpdateMany({"generation_id": gid, "status": {"$ne": "complete"}},
                       {"$set": {"status": "complete", "completed_at": at}}) for gid, at in sorted(completed.items())]


def _find_in(collection: Collection, field: str, values: Iterable[str], projection: Mapping[str, Any]
             ) -> Iterator[dict[str, Any]]:
    """The documents whose ``field`` is one of ``values``, in queries of at most IN_CHUNK values."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), IN_CHUNK):
        yield from collection.find({field: {"$in": ordered[start:start + IN_CHUNK]}}, projection)


def _bulk_write(collection: Collection, ops: list[Any], attempts: int = 3) -> BulkWriteResult | None:
    """Ordered bulk write (None when there is nothing to write).

    An upsert racing another store process's upsert of the same _id gets E11000
    (mongod): the document exists now, so the same idempotent batch succeeds when run again."""
    if not ops:
        return None
    for attempt in range(1, attempts + 1):
        try:
            return collection.bulk_write(ops, ordered=True)
        except BulkWriteError as error:
            codes = {err.get("code") for err in error.details.get("writeErrors", [])}
            if codes != {DUPLICATE_KEY} or attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
