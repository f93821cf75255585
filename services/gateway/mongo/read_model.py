"""The store's read model, as the gateway reads it (docs/data-model.md): never written here."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from services.common import vocabulary
from services.gateway.mongo.owners import fingerprint
from services.gateway.validation import keywords

# A generation's status once it will not change any more.
FINAL_STATUSES = ("completed", "failed")


class ReadModel:
    def __init__(self, db: Database) -> None:
        self.generations = db[vocabulary.GENERATIONS]
        self.recipes = db[vocabulary.RECIPES]
        self.events = db[vocabulary.GENERATION_EVENTS]

    # -- generations and recipes ---------------------------------------------------

    def generation(self, generation_id: str) -> dict[str, Any] | None:
        return self.generations.find_one({"_id": generation_id})

    def recipes_of(self, generation_id: str) -> list[dict[str, Any]]:
        return list(self.recipes.find({"generation_id": generation_id}).sort([("created_at", ASCENDING)]))

    def recipe(self, recipe_id: str) -> dict[str, Any] | None:
        return self.recipes.find_one({"_id": recipe_id})

    def list_recipes(self, query: dict[str, Any], after: tuple[datetime, str] | None,
                     owner: str | None = None) -> list[dict[str, Any]]:
        """Newest first; ``limit + 1`` documents so the caller can tell whether there is a next page.
        ``owner``: only that key's recipes (None: everyone's)."""
        clauses: list[dict[str, Any]] = [] if owner is None else [{"owner": fingerprint(owner)}]
        if "generation_id" in query:
            clauses.append({"generation_id": query["generation_id"]})
        if "ingredient" in query:
            pattern = re.escape(query["ingredient"])
            clauses.append({"ingredients.ingredient": {"$regex": pattern, "$options": "i"}})
        if "q" in query:
            words = keywords(query["q"])
            clauses.append({"keywords": {"$all": words}} if words else {"_id": {"$in": []}})
        if after is not None:
            created_at, last_id = after
            clauses.append({"$or": [{"created_at": {"$lt": created_at}},
                                    {"created_at": created_at, "_id": {"$lt": last_id}}]})
        cursor = self.recipes.find({"$and": clauses} if clauses else {})
        cursor = cursor.sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(query["limit"] + 1)
        return list(cursor)

    # -- generation events (SSE) --------------------------------------------------

    def event(self, event_id: str) -> dict[str, Any] | None:
        return self.events.find_one({"_id": event_id})

    def events_recorded(self, generation_id: str, since: datetime | None, limit: int = 1000) -> list[dict[str, Any]]:
        """The generation's events recorded at or after ``since``, in (recorded_at, _id) order (the index's).

        The store stamps a whole batch with one ``recorded_at``; the order inside a batch is the
        stream's to decide (sse.position), so a caller that got ``limit`` documents cannot know the
        last batch is whole.
        """
        query: dict[str, Any] = {"generation_id": generation_id}
        if since is not None:
            query["recorded_at"] = {"$gte": since}
        return list(self.events.find(query).sort([("recorded_at", ASCENDING), ("_id", ASCENDING)]).limit(limit))

    def recent_events(self, generation_ids: list[str], since: datetime | None,
                      limit: int = 10000) -> list[dict[str, Any]]:
        """Id, generation and recorded_at of the events of ``generation_ids`` recorded at or after ``since``."""
        query: dict[str, Any] = {"generation_id": {"$in": generation_ids}}
        if since is not None:
            query["recorded_at"] = {"$gte": since}
        return list(self.events.find(query, {"_id": 1, "generation_id": 1, "recorded_at": 1}).limit(limit))

    def finished_generations(self, generation_ids: list[str]) -> set[str]:
        """Those of ``generation_ids`` whose status is final (completed or failed)."""
        return {doc["_id"] for doc in self.generations.find(
            {"_id": {"$in": generation_ids}, "status": {"$in": list(FINAL_STATUSES)}}, {"_id": 1})}
