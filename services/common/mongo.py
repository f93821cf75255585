"""MongoDB client construction, shared so every service uses the same safe defaults."""
from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence, TypeVar

import pymongo
from bson.errors import InvalidDocument
from pymongo import MongoClient, monitoring
from pymongo.errors import (BulkWriteError, ClientBulkWriteException, ConnectionFailure, DocumentTooLarge,
                            PyMongoError, WTimeoutError)
from pymongo.write_concern import WriteConcern
from tenacity import Retrying, retry_if_exception, stop_when_event_set, wait_exponential_jitter

# MongoDB's duplicate key error (E11000): a replayed insert, or another writer first.
DUPLICATE_KEY = 11000
# Acknowledged by a majority and journaled: the embedded server loses the last
# ~20 acknowledged writes on kill -9 without j=True (docs/architecture.md).
# wtimeout: a replica set that lost its majority fails the write (WTimeoutError, retried as
# transient below) instead of holding it for ever.
WRITE_TIMEOUT_MS = 10_000
DURABLE = WriteConcern(w="majority", j=True, wtimeout=WRITE_TIMEOUT_MS)
# No reply on a connection for this long is a NetworkTimeout (a ConnectionFailure: transient), so a
# server that stopped answering cannot hang a service; above wtimeout so a write-concern wait ends first.
SOCKET_TIMEOUT_MS = 20_000
# close() ends the client's sessions on the server first, which waits for server selection
# (serverSelectionTimeoutMS) when MongoDB is gone; a stop must not wait that long.
CLOSE_SECONDS = 0.2

log = logging.getLogger(__name__)
T = TypeVar("T")


def connect(uri: str, *, app_name: str, server_selection_timeout_ms: int = 5000,
            event_listeners: Sequence[monitoring.CommandListener] = ()) -> MongoClient:
    return MongoClient(
        uri,
        appname=app_name,
        serverSelectionTimeoutMS=server_selection_timeout_ms,
        socketTimeoutMS=SOCKET_TIMEOUT_MS,
        tz_aware=True,
        event_listeners=list(event_listeners),
    )


def transient(error: BaseException) -> bool:
    """MongoDB unreachable (no server selected, connection refused or reset, a network timeout) or no
    majority to acknowledge a write within ``wtimeout``: waiting and trying again will do (writes are
    idempotent). ``AutoReconnect``, ``NetworkTimeout`` and ``ServerSelectionTimeoutError`` are all
    ``ConnectionFailure``s; a bulk write that failed only its write concern says nothing about the documents."""
    if isinstance(error, BulkWriteError):
        return not error.details.get("writeErrors") and bool(error.details.get("writeConcernErrors"))
    if isinstance(error, ClientBulkWriteException):  # MongoClient.bulk_write: the cause is inside
        if error.error is not None:
            return isinstance(error.error, BaseException) and transient(error.error)
        return not error.write_errors and bool(error.write_concern_errors)
    return isinstance(error, (ConnectionFailure, WTimeoutError))


def refused_document(error: BaseException) -> bool:
    """A document the driver cannot encode or the server refused: the fault of the data written, not
    of MongoDB (a write-concern failure alone is not: it says nothing about the documents)."""
    if isinstance(error, BulkWriteError):
        return bool(error.details.get("writeErrors"))
    if isinstance(error, ClientBulkWriteException):
        if isinstance(error.error, BaseException):
            return refused_document(error.error)
        return bool(error.write_errors)
    return isinstance(error, (InvalidDocument, DocumentTooLarge))


def close_quickly(client: MongoClient, seconds: float = CLOSE_SECONDS) -> None:
    """Close ``client`` within about ``seconds`` even when MongoDB is unreachable."""
    try:
        with pymongo.timeout(seconds):
            client.close()
    except PyMongoError:  # close() ignores endSessions errors itself; anything else must not block a stop
        log.debug("MongoDB client close failed", exc_info=True)


def until_reachable(work: Callable[[], T], stopping: threading.Event, what: str) -> T:
    """Run ``work``, again with capped, jittered backoff while MongoDB is unreachable, until it succeeds
    or ``stopping`` is set (then the last error is raised). Waits between tries end at once on a stop."""
    def sleep(seconds: float) -> None:
        stopping.wait(seconds)  # a stop ends the wait at once

    retrying = Retrying(
        retry=retry_if_exception(transient),
        wait=wait_exponential_jitter(multiplier=0.2, max=5.0),
        stop=stop_when_event_set(stopping),
        sleep=sleep,
        before_sleep=lambda state: log.warning(
            f"MongoDB unreachable: {what}; retrying",
            extra={"error": repr(state.outcome.exception() if state.outcome else None),
                   "attempt": state.attempt_number}),
        reraise=True,
    )
    return retrying(work)
