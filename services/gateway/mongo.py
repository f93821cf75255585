"""The gateway's MongoDB adapter: reads the store's collections, owns its own.

Reads: ``generations``, ``recipes``, ``generation_events`` (written by the store).
Writes: ``gateway_requests``, ``subscriptions``, ``webhook_deliveries``.
Every filter below is built from validated plain strings, never from client JSON.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Iterator

from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument, UpdateOne
from services.common import vocabulary
from services.common.mongo import DURABLE
from services.gateway.batching import GroupInserter
from services.gateway.validation import keywords, subscribing_types
from services.gateway.webhooks.records import PENDING_DELIVERY


# A generation's status once it will not change any more.
FINAL_STATUSES = ("completed", "failed")


class GatewayStore:
    def __init__(self, client: MongoClient, db_name: str) -> None:
        self.client = client
        db = client[db_name]
        self.generations = db[vocabulary.GENERATIONS]  # the store's read model (docs/data-model.md)
        self.recipes = db[vocabulary.RECIPES]
        self.events = db[vocabulary.GENERATION_EVENTS]
        self.requests = db.get_collection("gateway_requests", write_concern=DURABLE)
        self.subscriptions = db.get_collection("subscriptions", write_concern=DURABLE)
        self.deliveries = db.get_collection("webhook_deliveries", write_concern=DURABLE)
        self._request_writer = GroupInserter(self.requests)

    def ensure_indexes(self) -> None:
        self.subscriptions.create_index([("created_at", DESCENDING)])  # keys off: everyone's, newest first
        self.subscriptions.create_index([("owner", ASCENDING), ("created_at", DESCENDING)])  # one key's list
        self.deliveries.create_index([("subscription_id", ASCENDING), ("created_at", DESCENDING)])
        self.deliveries.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])  # the due ones
        self.deliveries.create_index([("status", ASCENDING), ("subscription_id", ASCENDING),
                                      ("next_attempt_at", ASCENDING)])  # one subscription's due ones

    def close(self) -> None:
        self.client.close()

    def ping(self) -> bool:
        self.client.admin.command("ping")
        return True

    # -- generation requests ----------------------------------------------------

    def find_request(self, generation_id: str) -> dict[str, Any] | None:
        return self.requests.find_one({"_id": generation_id})

    def record_request(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Insert an accepted request (durably, group-committed); if its id exists already, return that one."""
        if self._request_writer.insert(doc):
            return doc
        return self.requests.find_one({"_id": doc["_id"]}) or doc

    def generation(self, generation_id: str) -> dict[str, Any] | None:
        return self.generations.find_one({"_id": generation_id})

    def request_owners(self, generation_ids: set[str]) -> dict[str, str]:
        """The owner recorded on each of these generations' request records (those that have one)."""
        found = self.requests.find({"_id": {"$in": sorted(generation_ids)}, "owner": {"$nin": [None, ""]}},
                                   {"owner": 1})
        return {doc["_id"]: doc["owner"] for doc in found}

    def recipes_of(self, generation_id: str) -> list[dict[str, Any]]:
        return list(self.recipes.find({"generation_id": generation_id}).sort([("created_at", ASCENDING)]))

    # -- recipes ------------------------------------------------------------------

    def recipe(self, recipe_id: str) -> dict[str, Any] | None:
        return self.recipes.find_one({"_id": recipe_id})

    def list_recipes(self, query: dict[str, Any], after: tuple[datetime, str] | None,
                     owner: str | None = None) -> list[dict[str, Any]]:
        """Newest first; ``limit + 1`` documents so the caller can tell whether there is a next page.
        ``owner``: only that key's recipes (None: everyone's)."""
        clauses: list[dict[str, Any]] = [] if owner is None else [{"owner": _fingerprint(owner)}]
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

    # -- subscriptions and deliveries ----------------------------------------------

    def add_subscription(self, doc: dict[str, Any]) -> None:
        self.subscriptions.insert_one(doc)

    # The management methods take the caller's principal as ``owner``: "" (API keys off) sees every
    # subscription, a key fingerprint only those it created. A subscription without ``owner`` (created
    # before ownership existed) therefore belongs to no key.

    def count_subscriptions(self, owner: str) -> int:
        return self.subscriptions.count_documents({"owner": _fingerprint(owner)})

    def subscription(self, subscription_id: str, *, owner: str) -> dict[str, Any] | None:
        return self.subscriptions.find_one({"_id": subscription_id, **_owned_by(owner)})

    def list_subscriptions(self, *, owner: str, limit: int = 100) -> list[dict[str, Any]]:
        cursor = self.subscriptions.find(_owned_by(owner)).sort([("created_at", DESCENDING)]).limit(limit)
        return list(cursor)

    def delete_subscription(self, subscription_id: str, *, owner: str) -> bool:
        return self.subscriptions.delete_one({"_id": subscription_id, **_owned_by(owner)}).deleted_count == 1

    def subscriptions_for(self, event_types: set[str]) -> list[dict[str, Any]]:
        """Every subscriber of any of ``event_types``, whoever owns it (``tenancy.receives`` then
        keeps the events each one may get)."""
        entries = sorted({entry for event_type in event_types for entry in subscribing_types(event_type)})
        return list(self.subscriptions.find({"event_types": {"$in": entries}}))

    def save_delivery(self, doc: dict[str, Any]) -> bool:
        """Save an attempt's outcome if the attempt still holds the lease it was claimed with (its
        ``lease_token``); False (nothing written) for a stale attempt whose lease expired and was
        claimed again: the newer attempt's outcome stands. The lease is released with the write."""
        fields = {key: value for key, value in doc.items() if key not in ("_id", "lease_token")}
        result = self.deliveries.update_one({"_id": doc["_id"], "lease_token": doc["lease_token"]},
                                            {"$set": fields, "$unset": {"lease_token": ""}})
        return result.matched_count == 1

    def deliveries_of(self, subscription_id: str, limit: int = 100) -> Iterator[dict[str, Any]]:
        return self.deliveries.find({"subscription_id": subscription_id}).sort(
            [("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)

    def add_deliveries(self, docs: list[dict[str, Any]]) -> None:
        """Record pending deliveries, each unless one exists for its subscription and event (final or not)."""
        self.deliveries.bulk_write([UpdateOne({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)
                                    for doc in docs], ordered=False)

    def subscriptions_due(self, now: datetime) -> list[str]:
        """The subscriptions that have a pending delivery due now that nobody holds a live claim on."""
        return sorted(self.deliveries.distinct("subscription_id", _due(now)))

    def due_deliveries(self, now: datetime, limit: int, subscription_id: str | None = None) -> list[dict[str, Any]]:
        """Pending deliveries (of one subscription, or any) whose next attempt is due and that nobody
        holds a live claim on, the longest due first."""
        query = {**_due(now), **({} if subscription_id is None else {"subscription_id": subscription_id})}
        return list(self.deliveries.find(query, {"_id": 1, "subscription_id": 1})
                    .sort([("next_attempt_at", ASCENDING)]).limit(limit))

    def lease_delivery(self, delivery_id: str, now: datetime, until: datetime) -> dict[str, Any] | None:
        """Claim a due delivery until ``until`` with a fresh ``lease_token`` (the claim's proof for
        ``save_delivery``); None when another deliverer claimed it first."""
        return self.deliveries.find_one_and_update(
            {"_id": delivery_id, "status": PENDING_DELIVERY, **_unclaimed(now)},
            {"$set": {"lease_until": until, "lease_token": uuid.uuid4().hex}}, return_document=ReturnDocument.AFTER)

    def next_delivery_due(self) -> datetime | None:
        pending = self.deliveries.find_one({"status": PENDING_DELIVERY}, {"next_attempt_at": 1},
                                           sort=[("next_attempt_at", ASCENDING)])
        return pending.get("next_attempt_at") if pending else None


def _due(now: datetime) -> dict[str, Any]:
    return {"status": PENDING_DELIVERY, "next_attempt_at": {"$lte": now}, **_unclaimed(now)}


def _unclaimed(now: datetime) -> dict[str, Any]:
    """The clause of a delivery no deliverer holds a live claim on (never leased, or the lease expired)."""
    return {"$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]}


def _fingerprint(owner: str) -> str:
    if not isinstance(owner, str):  # a principal is a fingerprint string; never a document with operators
        raise TypeError(f"owner must be a str, not {type(owner).__name__}")
    return owner


def _owned_by(owner: str) -> dict[str, str]:
    """The ownership clause of a subscription filter: none when keys are off, else an exact string match."""
    return {"owner": owner} if _fingerprint(owner) else {}
