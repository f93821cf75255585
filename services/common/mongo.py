"""MongoDB client construction, shared so every service uses the same safe defaults."""
from __future__ import annotations

from pymongo import MongoClient
from pymongo.write_concern import WriteConcern

# Acknowledged by a majority and journaled: the embedded server loses the last
# ~20 acknowledged writes on kill -9 without j=True (docs/architecture.md).
DURABLE = WriteConcern(w="majority", j=True)


def connect(uri: str, *, app_name: str, server_selection_timeout_ms: int = 5000) -> MongoClient:
    return MongoClient(
        uri,
        appname=app_name,
        serverSelectionTimeoutMS=server_selection_timeout_ms,
        tz_aware=True,
    )
