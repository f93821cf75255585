"""Server-sent events of one generation, polled from ``generation_events`` (bounded in time)."""
from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any, Iterator, Mapping

from services.common.schemas import GENERATION_COMPLETED, GENERATION_FAILED
from services.gateway.mongo import GatewayStore

TERMINAL = (GENERATION_COMPLETED, GENERATION_FAILED)
KEEPALIVE_SECONDS = 15.0


def frame(doc: Mapping[str, Any]) -> str:
    """One SSE event: ``id`` = event id, ``event`` = type, ``data`` = JSON (one line), blank line."""
    payload = {"id": doc["_id"], "type": doc["type"], "generation_id": doc.get("generation_id"),
               "time": doc.get("time"), "data": doc.get("data", {})}
    return f"id: {doc['_id']}\nevent: {doc['type']}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"


def event_stream(store: GatewayStore, generation_id: str, after: tuple[datetime, str] | None, *,
                 max_seconds: float, poll_seconds: float) -> Iterator[str]:
    """History first, then new events as they land; ends after the terminal event or ``max_seconds``."""
    deadline = time.monotonic() + max_seconds
    last_sent = time.monotonic()
    yield "retry: 1000\n\n"
    while time.monotonic() < deadline:
        batch = store.events_after(generation_id, after)
        for doc in batch:
            yield frame(doc)
            after = (doc["recorded_at"], doc["_id"])
            if doc["type"] in TERMINAL:
                return
        if batch:
            last_sent = time.monotonic()
            continue
        stored = store.generation(generation_id)
        if stored is not None and stored.get("status") in ("completed", "failed"):
            # Finished: send what was recorded meanwhile (its terminal event may land just after), then end.
            for doc in store.events_after(generation_id, after):
                yield frame(doc)
            return
        if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        time.sleep(poll_seconds)
    yield ": stream time limit reached; reconnect with Last-Event-ID to resume\n\n"
