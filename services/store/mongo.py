"""The MongoDB adapter: collections, indexes, durable writes (w=majority, j=True) and read-backs.

A batch of changes costs a handful of round trips, not one per event
(``updates.py`` coalesces them; ``apply`` sends a small batch's writes as one
command, tests/store/test_round_trips.py counts them). Reads select by ``_id`` or ``generation_id``
with ``$in`` lists of at most ``IN_CHUNK`` values: SecantusDB's ``$in`` costs
grow with the square of the list (300 ids: ~90 ms in one query, ~25 ms in
chunks of 25; 1,000 ids: 0.9 s against 0.08 s).
"""
from __future__ import annotations

from datetime import datetime, timezone
from itertools import groupby
from typing import Any, Iterable, Iterator, Mapping, Sequence

from pymongo import ASCENDING, DESCENDING, IndexModel, InsertOne, UpdateMany, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, ClientBulkWriteException
from pymongo.results import ClientBulkWriteResult

from services.common.events import CloudEvent
from services.common import vocabulary
from services.common.mongo import DUPLICATE_KEY, DURABLE
from services.store import updates
from services.store.domain import AddItem, Change, DescribeRecipe, TouchRecipe, UpdateGeneration

IN_CHUNK = 25
# MongoDB 8.0's wire version: MongoClient.bulk_write (the ``bulkWrite`` command: several collections
# in one command). Older servers get the same writes as one command per collection.
CLIENT_BULK_WIRE_VERSION = 25
# Up to this many writes, one bulkWrite; more, one command per collection. SecantusDB runs each write
# of a bulkWrite through its own handler: per batch of events, one command was 15-50% faster for 1-4
# events (round trips and durable commits saved), even at 16-64 and ~8% slower at 250 (persist
# measured on SecantusDB, both ways alternating); an idle store's batches are small, a loaded one's large.
ONE_COMMAND_MAX_WRITES = 100
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
        self.one_command: bool | None = None  # whether the server takes bulkWrite (asked once)

    def ensure_indexes(self) -> None:
        self._one_command()
        self.recipes.create_indexes(RECIPE_INDEXES)
        self.generations.create_indexes(GENERATION_INDEXES)
        self.events.create_indexes(EVENT_INDEXES)

    def ping(self) -> bool:
        self.db.client.admin.command("ping")
        return True

    def apply(self, changes: Sequence[Change], events: Sequence[CloudEvent], seen: Mapping[str, Mapping[str, Any]],
              completing: Mapping[str, datetime], owners: Mapping[str, str], attempts: int = 5) -> list[AddItem]:
        """A batch's writes in one ordered, durable command (a large batch: one per collection, ``_write``):
        the recipes, then the generations, then the events in ``generation_events``; returns the adds
        refused by the item bound.

        The order is the rule "recipes complete before the generation, the event after its effect",
        kept inside the command (ordered: each write runs after the one before it succeeded). Recipes:
        one upsert per recipe (scalars, the missing items, its latest description and, if its generation
        is in ``completing`` (generation id -> completed_at), its completion), the completion of the other
        recipes of the completing generations. Generations: one upsert each, carrying the guarded updates
        ``seen`` (the generations as read earlier) does not show to be no-ops, their guards in its filter;
        one absent from ``seen`` gets them folded into its insert instead (``updates``), or in a second
        write if another writer inserted it first. A duplicate key (another writer created a recipe,
        pushed one of these tool calls or moved a guarded field on meanwhile) re-reads the recipes and
        the generations and writes again: every write is idempotent."""
        touches, describes, adds = _recipe_changes(changes)
        groups = _generation_groups(changes)
        records = self._records(events)
        for attempt in range(1, attempts + 1):
            if attempt > 1:  # a guard of an upsert missed: what another writer changed is read again
                seen = {**seen, **self.find_generations(gid for gid in groups if gid in seen)}
            recipe_ops, refused = self._recipe_ops(touches, describes, adds, completing, owners)
            try:
                upserted = self._write([*recipe_ops, *self._generation_ops(groups, seen)], records)
                break
            except (BulkWriteError, ClientBulkWriteException) as error:
                if _write_error_codes(error) != {DUPLICATE_KEY} or attempt == attempts:
                    raise
        else:
            return []  # attempts < 1: nothing written
        ns = self.generations.full_name
        self._write([op for gid, group in groups.items() if gid not in seen and (ns, gid) not in upserted
                     for op in updates.generation_guards(group, namespace=ns)])
        return refused

    def apply_generations(self, changes: Sequence[Change], seen: Mapping[str, Mapping[str, Any]] | None = None
                          ) -> None:
        """The generations' part of ``apply`` alone: upserts and guarded updates, the guards again for
        any generation absent from ``seen`` that this write did not insert."""
        groups, seen, ns = _generation_groups(changes), seen or {}, self.generations.full_name
        upserted = self._write(self._generation_ops(groups, seen))
        self._write([op for gid, group in groups.items() if gid not in seen and (ns, gid) not in upserted
                     for op in updates.generation_guards(group, namespace=ns)])

    def _generation_ops(self, groups: Mapping[str, list[UpdateGeneration]], seen: Mapping[str, Mapping[str, Any]]
                        ) -> list[UpdateOne]:
        ns = self.generations.full_name
        return [updates.generation_upsert(group, seen.get(gid), namespace=ns) for gid, group in groups.items()]

    def _recipe_ops(self, touches: Mapping[str, list[TouchRecipe]], describes: Sequence[DescribeRecipe],
                    adds: Sequence[AddItem], completing: Mapping[str, datetime], owners: Mapping[str, str]
                    ) -> tuple[list[UpdateOne | UpdateMany], list[AddItem]]:
        """The recipes' writes given what they hold now (read here), and the adds the item bound refuses."""
        ns = self.recipes.full_name
        seen = self._item_calls({c.recipe_id for c in adds} | {c.recipe_id for c in describes})
        missing, refused = updates.missing_items(adds, seen)
        # A recipe of a completing generation is completed in its upsert, unless the read shows it
        # complete already (then its completed_at stays, as with the UpdateMany's guard).
        # The batch's latest addRecipe of a recipe, unless the read shows a later one, goes into its upsert.
        latest: dict[str, DescribeRecipe] = {}
        for change in describes:
            if not updates.outranked(change, seen.get(change.recipe_id)) and not updates.outranked(
                    change, _shown(latest.get(change.recipe_id))):
                latest[change.recipe_id] = change
        ops: list[UpdateOne | UpdateMany] = [
            updates.upsert_recipe(group, missing.get(rid, {}),
                                  None if seen.get(rid, {}).get("status") == "complete"
                                  else completing.get(group[0].generation_id),
                                  owners.get(group[0].generation_id), namespace=ns,
                                  describe=latest.pop(rid, None), shown=seen.get(rid))
            for rid, group in touches.items()]
        # (an addRecipe always touches its recipe: none is left here, but the guarded updates would do)
        ops += [op for change in latest.values() for op in updates.describe_recipe(change, namespace=ns)]
        return ops + _completions(completing, ns), refused

    def _records(self, events: Sequence[CloudEvent]) -> list[dict[str, Any]]:
        """The events' records in generation_events."""
        now = datetime.now(timezone.utc)
        return [{"_id": e.id, "generation_id": e.data["generation_id"], "type": e.type, "data": dict(e.data),
                 "time": e.time, "recorded_at": now} for e in events]

    def _write(self, ops: Sequence[UpdateOne | UpdateMany], records: Sequence[dict[str, Any]] = ()
               ) -> set[tuple[str, Any]]:
        """``ops`` (each naming its collection), then ``records`` inserted into generation_events, as one
        ordered durable command when the server has MongoDB 8.0's ``bulkWrite`` (SecantusDB does) and
        they are at most ONE_COMMAND_MAX_WRITES, else one ordered bulk write per run of one collection,
        in the same order. Returns (namespace, _id) of
        every document an upsert inserted.

        A record whose ``_id`` is there already is a replayed event: in the ordered command it stops the
        writes after it, which are all records (the rest are inserted unordered, duplicates skipped).
        Inserts, not upserts: an upsert per record cost SecantusDB several times an insert."""
        names = [str(op._namespace) for op in ops]  # set by updates' builders (pymongo keeps it private)
        if len(ops) + len(records) > ONE_COMMAND_MAX_WRITES or not self._one_command():
            upserted: set[tuple[str, Any]] = set()
            for name, run in groupby(zip(names, ops), key=lambda pair: pair[0]):
                collection = self.db.get_collection(name.split(".", 1)[1], write_concern=DURABLE)
                done = collection.bulk_write([op for _, op in run], ordered=True)
                upserted |= {(name, value) for value in (done.upserted_ids or {}).values()}
            self._log(records)
            return upserted
        models = [*ops, *(InsertOne(doc, namespace=self.events.full_name) for doc in records)]
        if not models:
            return set()
        try:
            result: ClientBulkWriteResult | None = self.db.client.bulk_write(
                models, ordered=True, verbose_results=True, write_concern=DURABLE)
        except ClientBulkWriteException as error:
            errors: Any = error.write_errors or []  # dicts, as the server sent them
            failed = [err.get("idx", -1) for err in errors if err.get("code") == DUPLICATE_KEY]
            if error.error is not None or error.write_concern_errors or not failed or failed[0] < len(ops):
                raise
            result = error.partial_result
            self._log(records[failed[0] - len(ops) + 1:])
        updated = result.update_results if result is not None else {}
        return {(names[index], update.upserted_id) for index, update in updated.items()
                if update.upserted_id is not None}

    def _log(self, records: Sequence[dict[str, Any]]) -> None:
        """Insert records into generation_events. A duplicate ``_id`` is a replayed event already
        recorded: success. Any other error (another index, a write concern error) fails the batch."""
        if not records:
            return
        try:
            self.events.insert_many(list(records), ordered=False)
        except BulkWriteError as error:
            if any(err.get("code") != DUPLICATE_KEY or err.get("keyPattern", {"_id": 1}) != {"_id": 1}
                   for err in error.details.get("writeErrors", [])):
                raise
            if error.details.get("writeConcernErrors"):
                raise

    def _one_command(self) -> bool:
        if self.one_command is None:
            hello = self.db.client.admin.command("hello")
            self.one_command = hello.get("maxWireVersion", 0) >= CLIENT_BULK_WIRE_VERSION
        return self.one_command

    def _item_calls(self, recipe_ids: set[str]) -> dict[str, dict[str, Any]]:
        """For each recipe, the tool call ids already in its ingredients and steps (sets), which
        addRecipe it shows (``described_at``, ``described_by``) and its ``status``."""
        scalars = ("described_at", "described_by", "status")
        projection = {"ingredients.tool_call_id": 1, "steps.tool_call_id": 1, **{name: 1 for name in scalars}}
        return {doc["_id"]: {**{kind: {item["tool_call_id"] for item in doc.get(kind, [])}
                                for kind in ("ingredients", "steps")},
                             **{name: doc[name] for name in scalars if name in doc}}
                for doc in _find_in(self.recipes, "_id", recipe_ids, projection)}

    def finish_recipes(self, completed: Mapping[str, datetime], owners: Mapping[str, str]) -> None:
        """One write: mark the recipes of completed generations complete (generation id -> its
        completed_at), and give the recipes of these generations (generation id -> owner) their owner
        where missing."""
        ns = self.recipes.full_name
        self._write([*_completions(completed, ns),
                     *(UpdateMany({"generation_id": gid, "owner": {"$exists": False}}, {"$set": {"owner": owner}},
                                  namespace=ns) for gid, owner in sorted(owners.items()))])

    def find_generations(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Status, completion and what the guards of ``updates.generation_upsert`` look at."""
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


def _shown(change: DescribeRecipe | None) -> dict[str, Any] | None:
    return None if change is None else {"described_at": change.at, "described_by": change.tool_call_id}


def _completions(completed: Mapping[str, datetime], namespace: str) -> list[UpdateMany]:
    return [UpdateMany({"generation_id": gid, "status": {"$ne": "complete"}},
                       {"$set": {"status": "complete", "completed_at": at}}, namespace=namespace)
            for gid, at in sorted(completed.items())]


def _recipe_changes(changes: Sequence[Change]
                    ) -> tuple[dict[str, list[TouchRecipe]], list[DescribeRecipe], list[AddItem]]:
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
    return touches, describes, adds


def _generation_groups(changes: Sequence[Change]) -> dict[str, list[UpdateGeneration]]:
    groups: dict[str, list[UpdateGeneration]] = {}
    for change in changes:
        if isinstance(change, UpdateGeneration):
            groups.setdefault(change.generation_id, []).append(change)
    return groups


def _write_error_codes(error: BulkWriteError | ClientBulkWriteException) -> set[Any]:
    errors: Any = error.details.get("writeErrors") if isinstance(error, BulkWriteError) else error.write_errors
    return {err.get("code") for err in errors or []}


def _find_in(collection: Collection, field: str, values: Iterable[str], projection: Mapping[str, Any]
             ) -> Iterator[dict[str, Any]]:
    """The documents whose ``field`` is one of ``values``, in queries of at most IN_CHUNK values."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), IN_CHUNK):
        yield from collection.find({field: {"$in": ordered[start:start + IN_CHUNK]}}, projection)
