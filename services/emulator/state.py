"""In-memory state behind one lock: objects by id, cursor pages, request statistics."""
from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from services.emulator.faults import Dice, Knobs


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def now_s() -> int:
    return int(time.time())


class NotFound(LookupError):
    """No object of that kind with that id."""

    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"No {kind} found with id '{object_id}'.")


class BadRequest(ValueError):
    """The request is well-formed HTTP but not acceptable; the message goes back to the client."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


@dataclass
class State:
    knobs: Knobs
    dice: Dice
    lock: threading.RLock = field(default_factory=threading.RLock)
    assistants: dict[str, dict[str, Any]] = field(default_factory=dict)
    threads: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # thread id -> oldest first
    runs: dict[str, Any] = field(default_factory=dict)  # run id -> runs.RunState
    active_runs: dict[str, str] = field(default_factory=dict)  # thread id -> its non-terminal run id
    responses: dict[str, Any] = field(default_factory=dict)  # response id -> responses_model.ResponseState
    requests: Counter = field(default_factory=Counter)  # "METHOD /route" -> count
    statuses: Counter = field(default_factory=Counter)  # "METHOD /route status" -> count
    faults: Counter = field(default_factory=Counter)  # fault name -> times injected
    webhook_url: str | None = None  # signed response.* events are POSTed here
    webhook_secret: str | None = None
    webhooks: Counter = field(default_factory=Counter)  # delivery outcome -> count
    tool_calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # call id -> name, emitted_at, due_at

    def record_tool_calls(self, calls: list[tuple[str, str]], due: float, now: float,
                          written: list[float] | None = None) -> None:
        """Note when (call id, name) pairs became available to the client: ``emitted_at`` is the wall-clock time
        the run / response took the turn (now), ``due_at`` the wall-clock time the turn was due (``due`` and
        ``now`` are ``time.monotonic()``), ``completed_at`` when the call is fully written (``written``: seconds
        after now per call; a stream sending the call's last delta overwrites it with the send time).
        Measurement only (benchmarks); cleared by the stats reset."""
        emitted = time.time()
        due_at = emitted - max(now - due, 0.0)
        offsets = written or [0.0] * len(calls)
        for (call_id, name), offset in zip(calls, offsets):
            self.tool_calls[call_id] = {"name": name, "emitted_at": emitted, "due_at": due_at,
                                        "completed_at": emitted + offset}

    def call_written(self, call_id: str) -> None:
        """A stream has just sent the last of this call (``completed_at`` becomes now)."""
        with self.lock:
            if call_id in self.tool_calls:
                self.tool_calls[call_id]["completed_at"] = time.time()

    def fault_roller(self, faults: dict[str, float]) -> Callable[[str], bool]:
        """A function fault name -> fires?, using this state's seeded dice."""
        return lambda name: self.dice.roll(faults.get(name, 0.0))

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": dict(self.requests), "responses": dict(self.statuses), "faults": dict(self.faults),
                    "webhooks": dict(self.webhooks),
                    "objects": {"assistants": len(self.assistants), "threads": len(self.threads),
                                "runs": len(self.runs), "responses": len(self.responses)}}


def get_or_404(table: dict[str, Any], kind: str, object_id: str) -> Any:
    try:
        return table[object_id]
    except KeyError:
        raise NotFound(kind, object_id) from None


def cursor_page(items: list[dict[str, Any]], args: Any) -> dict[str, Any]:
    """An OpenAI list page over ``items`` (oldest first) from query args limit, order, after, before."""
    try:
        limit = int(args.get("limit", 20))
    except ValueError:
        raise BadRequest("limit must be an integer", "limit") from None
    if not 1 <= limit <= 100:
        raise BadRequest("limit must be between 1 and 100", "limit")
    order = args.get("order", "desc")
    if order not in ("asc", "desc"):
        raise BadRequest("order must be 'asc' or 'desc'", "order")
    ordered = list(items) if order == "asc" else list(reversed(items))
    ids = [item["id"] for item in ordered]
    start, end = 0, len(ordered)
    if args.get("after"):
        start = ids.index(args["after"]) + 1 if args["after"] in ids else len(ids)
    if args.get("before"):
        end = ids.index(args["before"]) if args["before"] in ids else 0
    window = ordered[start:end]
    data = window[:limit]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": len(window) > limit}
