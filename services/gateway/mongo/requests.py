"""The gateway's request records (``gateway_requests``): one per accepted generation request."""
from __future__ import annotations

from typing import Any

from pymongo.database import Database

from services.common.mongo import DURABLE
from services.gateway.batching import GroupInserter


class RequestRecords:
    def __init__(self, db: Database) -> None:
        self.collection = db.get_collection("gateway_requests", write_concern=DURABLE)
        self._writer = GroupInserter(self.collection)

    def find(self, generation_id: str) -> dict[str, Any] | None:
        return self.collection.find_one({"_id": generation_id})

    def record(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Insert an accepted request (durably, group-committed); if its id exists already, return that one."""
        if self._writer.insert(doc):
            return doc
        return self.collection.find_one({"_id": doc["_id"]}) or doc

    def owners(self, generation_ids: set[str]) -> dict[str, str]:
        """The owner recorded on each of these generations' request records (those that have one)."""
        found = self.collection.find({"_id": {"$in": sorted(generation_ids)}, "owner": {"$nin": [None, ""]}},
                                     {"owner": 1})
        return {doc["_id"]: doc["owner"] for doc in found}
