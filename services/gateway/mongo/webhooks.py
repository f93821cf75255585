"""Webhook subscriptions (``subscriptions``) and their delivery records (``webhook_deliveries``)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Iterator

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError, OperationFailure
from pymongo.database import Database

from services.common.mongo import DURABLE
from services.gateway.mongo.owners import fingerprint, owned_by
from services.gateway.validation import subscribing_types
from services.gateway.webhooks.records import (FINAL_STATUSES, PENDING_DELIVERY, claim_fields, replay_fields,
                                               throttle_slot)

ENABLED, DISABLED = "enabled", "disabled"  # a subscription's status (one without the field is enabled)
# No longer created (nothing queries lease_until since a claim moves next_attempt_at): dropped at start-up.
RETIRED_INDEXES = ("status_1_lease_until_1",)


class WebhookRecords:
    def __init__(self, db: Database) -> None:
        self.subscriptions = db.get_collection("subscriptions", write_concern=DURABLE)
        self.deliveries = db.get_collection("webhook_deliveries", write_concern=DURABLE)
        # One next-slot time per rate-limited subscription; losing it in a crash only lets one request early.
        self.throttles = db.get_collection("webhook_throttles")

    # Every claim-round filter is equalities plus at most one range, on an index that holds every field
    # of it: SecantusDB's planner serves that shape (tests/gateway/test_webhook_claim_plans.py checks
    # each query's plan) and scans the collection for others, such as a top-level $or.
    def ensure_indexes(self) -> None:
        self.subscriptions.create_index([("created_at", DESCENDING)])  # keys off: everyone's, newest first
        self.subscriptions.create_index([("owner", ASCENDING), ("created_at", DESCENDING)])  # one key's list
        self.deliveries.create_index([("subscription_id", ASCENDING), ("created_at", DESCENDING)])
        self.deliveries.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])  # the due ones
        self.deliveries.create_index([("status", ASCENDING), ("subscription_id", ASCENDING),
                                      ("next_attempt_at", ASCENDING)])  # one subscription's due ones
        self.deliveries.create_index([("subscription_id", ASCENDING), ("status", ASCENDING),
                                      ("ordering_key", ASCENDING), ("sequence", ASCENDING)])  # recipes' order
        # The claim (lease_delivery): the _id alone is a point lookup, but {_id, status, next_attempt_at}
        # is planned only on an index holding all three.
        self.deliveries.create_index([("_id", ASCENDING), ("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        self._migrate_claims()

    def _migrate_claims(self) -> None:
        """Records claimed by a deliverer that did not move ``next_attempt_at`` with its claim (before
        ``records.claim_fields``): their next attempt becomes the claim's expiry, so the one-range due
        query does not hand them out again while the claim is live. Unclaimed records need nothing
        (``lease_until`` None or past is never queried). Run with ``ensure_indexes`` by every gateway
        process on start (idempotent), so by the deliverer before its scheduler starts."""
        found = self.deliveries.find({"status": PENDING_DELIVERY, "lease_until": {"$ne": None}},
                                     {"next_attempt_at": 1, "lease_until": 1})
        for doc in found:
            if doc.get("next_attempt_at") is not None and doc["lease_until"] > doc["next_attempt_at"]:
                self.deliveries.update_one({"_id": doc["_id"], "lease_until": doc["lease_until"]},
                                           {"$set": {"next_attempt_at": doc["lease_until"]}})
        existing = self.deliveries.index_information()
        for name in RETIRED_INDEXES:
            if name in existing:
                try:
                    self.deliveries.drop_index(name)
                except OperationFailure:  # another process starting at the same time dropped it first
                    pass

    # -- subscriptions ---------------------------------------------------------------

    def add_subscription(self, doc: dict[str, Any]) -> None:
        self.subscriptions.insert_one(doc)

    # The management methods take the caller's principal as ``owner``: "" (API keys off) sees every
    # subscription, a key fingerprint only those it created. A subscription without ``owner`` (created
    # before ownership existed) therefore belongs to no key.

    def count_subscriptions(self, owner: str) -> int:
        return self.subscriptions.count_documents({"owner": fingerprint(owner)})

    def subscription(self, subscription_id: str, *, owner: str) -> dict[str, Any] | None:
        return self.subscriptions.find_one({"_id": subscription_id, **owned_by(owner)})

    def list_subscriptions(self, *, owner: str, limit: int = 100) -> list[dict[str, Any]]:
        cursor = self.subscriptions.find(owned_by(owner)).sort([("created_at", DESCENDING)]).limit(limit)
        return list(cursor)

    def delete_subscription(self, subscription_id: str, *, owner: str) -> bool:
        return self.subscriptions.delete_one({"_id": subscription_id, **owned_by(owner)}).deleted_count == 1

    def rotate_secret(self, subscription_id: str, *, owner: str, old: str, fields: dict[str, Any]) -> bool:
        """Set the rotated secret fields if the secret is still ``old`` (a concurrent rotation wins otherwise)."""
        result = self.subscriptions.update_one({"_id": subscription_id, "secret": old, **owned_by(owner)},
                                               {"$set": fields})
        return result.matched_count == 1

    def subscriptions_for(self, event_types: set[str]) -> list[dict[str, Any]]:
        """Every subscriber of any of ``event_types``, whoever owns it (``tenancy.receives`` then
        keeps the events each one may get), except the disabled ones (they get nothing until enabled)."""
        entries = sorted({entry for event_type in event_types for entry in subscribing_types(event_type)})
        return list(self.subscriptions.find({"event_types": {"$in": entries}, "status": {"$ne": DISABLED}}))

    # -- a subscription's health (records.subscription_health decides, these write) --------

    def mark_failing(self, subscription_id: str, now: datetime) -> None:
        """Start the failing period at ``now`` unless one is running (the first failure after a success)."""
        self.subscriptions.update_one({"_id": subscription_id, "failing_since": None},
                                      {"$set": {"failing_since": now}})

    def mark_healthy(self, subscription_id: str) -> None:
        self.subscriptions.update_one({"_id": subscription_id, "failing_since": {"$ne": None}},
                                      {"$unset": {"failing_since": ""}})

    def disable_subscription(self, subscription_id: str, reason: str, now: datetime) -> dict[str, Any] | None:
        """Disable an enabled subscription; the disabled one, or None when it was disabled (or deleted)
        already, so exactly one caller sends the notice."""
        return self.subscriptions.find_one_and_update(
            {"_id": subscription_id, "status": {"$ne": DISABLED}},
            {"$set": {"status": DISABLED, "disabled_at": now, "disabled_reason": reason}},
            return_document=ReturnDocument.AFTER)

    def enable_subscription(self, subscription_id: str, *, owner: str) -> dict[str, Any] | None:
        """Enable the caller's subscription (a fresh start: no failing period); None if it is not theirs."""
        return self.subscriptions.find_one_and_update(
            {"_id": subscription_id, **owned_by(owner)},
            {"$set": {"status": ENABLED}, "$unset": {"failing_since": "", "disabled_at": "", "disabled_reason": ""}},
            return_document=ReturnDocument.AFTER)

    # -- deliveries -----------------------------------------------------------------

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

    def replay_delivery(self, subscription_id: str, delivery_id: str, now: datetime) -> dict[str, Any] | None:
        """Make a final delivery of this subscription pending again (``records.replay_fields``); None when
        there is no such delivery or it is still pending (then it is being sent anyway)."""
        return self.deliveries.find_one_and_update(
            {"_id": delivery_id, "subscription_id": subscription_id, "status": {"$in": list(FINAL_STATUSES)}},
            {"$set": replay_fields(now), "$inc": {"replays": 1}}, return_document=ReturnDocument.AFTER)

    def delivery(self, subscription_id: str, delivery_id: str) -> dict[str, Any] | None:
        return self.deliveries.find_one({"_id": delivery_id, "subscription_id": subscription_id})

    def replay_deliveries(self, subscription_id: str, since: datetime, statuses: tuple[str, ...],
                          now: datetime) -> int:
        """Make this subscription's final deliveries (of ``statuses``) recorded at or after ``since``
        pending again; how many."""
        return self.deliveries.update_many(
            {"subscription_id": subscription_id, "created_at": {"$gte": since}, "status": {"$in": list(statuses)}},
            {"$set": replay_fields(now), "$inc": {"replays": 1}}).modified_count

    def add_deliveries(self, docs: list[dict[str, Any]]) -> set[str]:
        """Record pending deliveries, each unless one exists for its subscription and event (final or
        not); the ids of those this call inserted (a redelivered event's existing records are not)."""
        result = self.deliveries.bulk_write([UpdateOne({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)
                                             for doc in docs], ordered=False)
        return {str(inserted) for inserted in (result.upserted_ids or {}).values()}

    def subscriptions_due(self, now: datetime) -> list[str]:
        """The subscriptions that have a pending delivery due now (a live claim's is not: ``claim_fields``)."""
        return sorted(self.deliveries.distinct("subscription_id", _due(now)))

    def due_deliveries(self, now: datetime, limit: int, subscription_id: str | None = None) -> list[dict[str, Any]]:
        """Pending deliveries (of one subscription, or any) whose next attempt is due (so nobody holds a
        live claim on them), the longest due first."""
        query = {**_due(now), **({} if subscription_id is None else {"subscription_id": subscription_id})}
        return list(self.deliveries.find(query, {"_id": 1, "subscription_id": 1})
                    .sort([("next_attempt_at", ASCENDING)]).limit(limit))

    def pending_in_order(self, subscription_id: str, limit: int = 10000) -> list[dict[str, Any]]:
        """A per_recipe subscription's pending deliveries (what ``records.ordered_heads`` needs of each),
        by recipe and in each recipe's order."""
        return list(self.deliveries.find(
            {"subscription_id": subscription_id, "status": PENDING_DELIVERY},
            {"_id": 1, "subscription_id": 1, "ordering_key": 1, "sequence": 1, "next_attempt_at": 1,
             "lease_until": 1}).sort([("ordering_key", ASCENDING), ("sequence", ASCENDING)]).limit(limit))

    def delivery_settings(self, subscription_ids: list[str]) -> dict[str, dict[str, Any]]:
        """What the scheduler needs to know of each subscription (ordering, rate limit), by id."""
        found = self.subscriptions.find({"_id": {"$in": subscription_ids}}, {"ordering": 1, "rate_limit": 1})
        return {doc["_id"]: doc for doc in found}

    def take_throttle_slot(self, subscription_id: str, now: datetime, rate: float) -> float:
        """Take the subscription's next request slot (``records.throttle_slot``), shared by every
        deliverer process through one compare-and-set document: 0 when taken, else seconds to wait."""
        for _ in range(5):  # another process took the slot between the read and the write: read again
            doc = self.throttles.find_one({"_id": subscription_id})
            current = doc["slot_at"] if doc else None
            slot_at, wait = throttle_slot(current, now, rate)
            if slot_at is None:
                return wait
            try:
                if doc is None:
                    self.throttles.insert_one({"_id": subscription_id, "slot_at": slot_at})
                    return 0.0
            except DuplicateKeyError:
                continue
            if self.throttles.update_one({"_id": subscription_id, "slot_at": current},
                                         {"$set": {"slot_at": slot_at}}).matched_count == 1:
                return 0.0
        return 1 / rate

    def lease_delivery(self, delivery_id: str, now: datetime, until: datetime) -> dict[str, Any] | None:
        """Claim a due delivery until ``until`` with a fresh ``lease_token`` (the claim's proof for
        ``save_delivery``; ``records.claim_fields``); None when another deliverer claimed it first."""
        # An update, then a read of the claimed record, not a findAndModify: SecantusDB re-asserts a
        # findAndModify's query as {_id, $and: [query]} for its write, and a top-level $and is never
        # planned on an index, so each claim scanned the whole collection.
        token = uuid.uuid4().hex
        claim = self.deliveries.update_one(
            {"_id": delivery_id, "status": PENDING_DELIVERY, "next_attempt_at": {"$lte": now}},
            {"$set": claim_fields(until, token)})
        if claim.matched_count != 1:
            return None
        record = self.deliveries.find_one({"_id": delivery_id})
        return record if record is not None and record.get("lease_token") == token else None

    def next_change_at(self, now: datetime) -> datetime | None:
        """The earliest time after ``now`` a pending delivery becomes due or its claim expires (a claim
        moved its ``next_attempt_at`` there): until then, only a new record or a finished attempt can
        make one claimable that is not now."""
        found = self.deliveries.find_one({"status": PENDING_DELIVERY, "next_attempt_at": {"$gt": now}},
                                         {"next_attempt_at": 1}, sort=[("next_attempt_at", ASCENDING)])
        return found.get("next_attempt_at") if found else None


def _due(now: datetime) -> dict[str, Any]:
    """Pending and due: never claimed, or its claim expired (``records.claim_fields``)."""
    return {"status": PENDING_DELIVERY, "next_attempt_at": {"$lte": now}}
