"""Server-sent events of one generation, read from ``generation_events`` when the broker says there is news."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any, Callable, Generator, Iterator, Mapping

from services.common.schemas import GENERATION_COMPLETED, GENERATION_FAILED
from services.gateway.mongo import FINAL_STATUSES, ReadModel

TERMINAL = (GENERATION_COMPLETED, GENERATION_FAILED)
KEEPALIVE_SECONDS = 15.0
TERMINAL_GRACE_SECONDS = 5.0
LOOKBACK = timedelta(seconds=2)
# While a finished generation's terminal event is awaited, the stream reads this often.
GRACE_READ_SECONDS = 1.0
READ_LIMIT = 1000  # events per read of generation_events


class HeldStream:
    """A response body that holds one of the worker's stream slots until it ends or the client leaves.

    The WSGI server calls ``close`` in every case (finished, client gone, error), even when the body
    was never iterated, which a generator's ``finally`` would not see.
    """

    def __init__(self, stream: Iterator[str], release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[str]:
        return self._stream

    def close(self) -> None:
        release, self._release = self._release, None
        try:
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()
        finally:
            if release is not None:
                release()


def frame(doc: Mapping[str, Any]) -> str:
    """One SSE event: ``id`` = event id, ``event`` = type, ``data`` = JSON (one line), blank line."""
    payload = {"id": doc["_id"], "type": doc["type"], "generation_id": doc.get("generation_id"),
               "time": doc.get("time"), "data": doc.get("data", {})}
    return f"id: {doc['_id']}\nevent: {doc['type']}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"


Position = tuple[datetime, str, int, str, str]


def position(doc: Mapping[str, Any]) -> Position:
    """Where an event sits in a generation's stream (what Last-Event-ID resumes after).

    First the store's batch (``recorded_at``: nothing is sent before it is recorded); inside a batch
    the model's order, as the store sorts a recipe's items (services/store/domain.py INGREDIENT_ORDER):
    the call's time, its ``position`` among the calls of its turn (0 when absent or unusable, as
    there), its call id; the event id breaks the remaining ties. Many calls of one turn share a
    millisecond, so without ``position`` they would come in event-id order, which is random.
    """
    data = doc.get("data") or {}
    call_position = data.get("position")
    if not isinstance(call_position, int) or isinstance(call_position, bool) or call_position < 0:
        call_position = 0
    call_id = data.get("tool_call_id")
    return (doc["recorded_at"], doc.get("time") or "", call_position,
            call_id if isinstance(call_id, str) else "", doc["_id"])


def events_after(store: ReadModel, generation_id: str, after: Position | None,
                 since: datetime | None) -> tuple[list[dict[str, Any]], bool]:
    """The events after ``after`` and recorded at or after ``since``, in stream order (``position``);
    and whether the read was cut at READ_LIMIT (more may follow at once)."""
    floors = [at for at in (after[0] if after is not None else None, since) if at is not None]
    start = max(floors) if floors else None
    docs = store.events_recorded(generation_id, start, limit=READ_LIMIT)
    full = len(docs) == READ_LIMIT
    if full and docs[0]["recorded_at"] != docs[-1]["recorded_at"]:
        # The last batch may be cut short: it comes whole with the next read, in its order.
        last = docs[-1]["recorded_at"]
        docs = [doc for doc in docs if doc["recorded_at"] != last]
    return sorted((doc for doc in docs if after is None or position(doc) > after), key=position), full


def event_stream(store: ReadModel, generation_id: str, after: Position | None, *,
                 max_seconds: float, wait: Callable[[float], bool | datetime], safety_seconds: float,
                 closing: Callable[[], bool] = lambda: False) -> Iterator[str]:
    """History first, then new events as they land; ends after the terminal event or ``max_seconds``.

    The stream reads MongoDB only when ``wait(seconds)`` wakes it (the worker heard from the broker
    that this generation's events were recorded: watcher.py, live.py), and once every
    ``safety_seconds`` on its own (the safety read: a hint lost with the broker delays an event, never
    loses it). Keep-alives need no read. A wake that says from when the news was recorded (a
    datetime) reads from then only: one batch, not the whole look-back. Once ``closing()`` is true
    (the worker is shutting down) the stream ends at its next wake-up, asking the client to reconnect
    elsewhere with Last-Event-ID.

    ``after`` (from Last-Event-ID) is a strict floor: nothing at or before it is sent. Each read
    looks back LOOKBACK before the newest event sent and skips ids already sent, so an event whose
    write became visible after a later-stamped one (concurrent writers) is not missed.
    """
    deadline = time.monotonic() + max_seconds
    last_sent = time.monotonic()
    sent: set[str] = set()
    since: datetime | None = None
    finished_at: float | None = None
    woken: bool | datetime = False
    next_safety = 0.0  # the first read (the history) is a safety read: it checks the status
    yield "retry: 1000\n\n"
    while time.monotonic() < deadline:
        if woken or time.monotonic() >= next_safety:
            read_since = woken if isinstance(woken, datetime) else since
            docs, full = events_after(store, generation_id, after, read_since)
            fresh = [doc for doc in docs if doc["_id"] not in sent]
            final = [doc for doc in fresh if doc["type"] in TERMINAL]
            for doc in fresh:
                if doc["type"] not in TERMINAL:
                    yield frame(doc)
                    sent.add(doc["_id"])
            if final:
                # The store stamps one batch with one recorded_at; ties on (recorded_at, time) may still put
                # the final status before a sibling: send every other event first, the final status last.
                for doc in events_after(store, generation_id, after, read_since)[0]:
                    if doc["_id"] not in sent and doc["type"] not in TERMINAL:
                        yield frame(doc)
                yield frame(final[0])
                return
            if fresh:
                newest = max(doc["recorded_at"] for doc in fresh)
                since = newest - LOOKBACK if since is None or newest - LOOKBACK > since else since
                last_sent = time.monotonic()
            if full:
                woken = True  # read on at once, from the newest sent (``since``), not the same page again
                continue
            if not fresh and (not woken or finished_at is not None):
                ended, finished_at = yield from _end_if_finished(store, generation_id, after, since, sent,
                                                                 finished_at)
                if ended:
                    return
            if not woken:
                # Finished without its terminal event yet: read often until the grace ends (below).
                next_safety = time.monotonic() + (safety_seconds if finished_at is None else
                                                  min(safety_seconds, GRACE_READ_SECONDS))
        if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        now = time.monotonic()
        woken = wait(max(min(next_safety, last_sent + KEEPALIVE_SECONDS, deadline) - now, 0.0))
        if closing():
            yield ": the server is shutting down; reconnect with Last-Event-ID to resume\n\n"
            return
    yield ": stream time limit reached; reconnect with Last-Event-ID to resume\n\n"


def _end_if_finished(store: ReadModel, generation_id: str, after: Position | None, since: datetime | None,
                     sent: set[str], finished_at: float | None
                     ) -> Generator[str, None, tuple[bool, float | None]]:
    """When the generation is final but its terminal event is not in yet: (True, ...) once the grace is
    over (the stream ends with what there is, sent here); else (False, when it was first seen final)."""
    stored = store.generation(generation_id)
    if stored is None or stored.get("status") not in FINAL_STATUSES:
        return False, finished_at
    # The store records a batch's events just after it writes the status: give them a moment to
    # land (the terminal event ends the stream); only then end with what there is.
    finished_at = finished_at or time.monotonic()
    if time.monotonic() - finished_at < TERMINAL_GRACE_SECONDS:
        return False, finished_at
    for doc in events_after(store, generation_id, after, since)[0]:
        if doc["_id"] not in sent:
            yield frame(doc)
    return True, finished_at
