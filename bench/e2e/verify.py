"""After a run: every generation completed with one exact recipe and each tool call recorded exactly once;
then each recorded tool call joined (by tool call id) with the emulator's emission time, and (by event id)
with when the bench learned it was durable (bench/e2e/durable.py)."""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from bench.e2e.workload import BenchFailure, expected_tool_calls
from tests.support.recipes import check_recipe


def verify(db: Any, prompts: dict[str, str]) -> list[dict[str, Any]]:
    """Every generation completed with exactly one exact recipe and exactly its tool-call events, once each.
    Returns the tool-call events."""
    ids = list(prompts)
    problems: list[str] = []
    statuses = {d["_id"]: d for d in db.generations.find({"_id": {"$in": ids}}, {"status": 1, "error": 1, "reason": 1})}
    for gid in ids:
        doc = statuses.get(gid)
        if doc is None or doc.get("status") != "completed":
            problems.append(f"generation {gid}: {doc!r}")
    recipes: dict[str, list[dict]] = {}
    for doc in db.recipes.find({"generation_id": {"$in": ids}}):
        recipes.setdefault(doc["generation_id"], []).append(doc)
    for gid, prompt in prompts.items():
        found = recipes.get(gid, [])
        if len(found) != 1:
            problems.append(f"generation {gid}: {len(found)} recipe documents")
            continue
        check = check_recipe(found[0], prompt)
        if not check.exact or found[0].get("status") != "complete":
            problems.append(f"generation {gid}: {check} status={found[0].get('status')}")
    events = list(db.generation_events.find(
        {"generation_id": {"$in": ids}, "type": {"$regex": "^toolcall\\."}},
        {"generation_id": 1, "type": 1, "data.tool_call_id": 1, "time": 1, "recorded_at": 1}))
    per_generation = Counter(e["generation_id"] for e in events)
    for gid, prompt in prompts.items():
        if per_generation[gid] != expected_tool_calls(prompt):
            problems.append(f"generation {gid}: {per_generation[gid]} tool-call events, "
                            f"expected {expected_tool_calls(prompt)}")
    rejected = [e for e in events if e["type"] == "toolcall.rejected"]
    doubled = [k for k, n in Counter(e["data"]["tool_call_id"] for e in events).items() if n > 1]
    if rejected or doubled:
        problems.append(f"{len(rejected)} rejected tool calls, {len(doubled)} tool call ids recorded twice")
    if problems:
        raise BenchFailure(f"{len(problems)} problems, e.g.:\n" + "\n".join(problems[:20]))
    return events


def _event_time(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


def latencies(events: list[dict[str, Any]], emitted: dict[str, dict[str, Any]]) -> tuple[list[float], ...]:
    """Per tool call, joined by tool call id (every recorded one must have an emission time):
    recorded_at - emitted_at, and its two parts split at the event's own time (set by the runner)."""
    missing = [e["data"]["tool_call_id"] for e in events if e["data"]["tool_call_id"] not in emitted]
    if missing:
        raise BenchFailure(f"{len(missing)} recorded tool calls unknown to the emulator, e.g. {missing[:5]}")
    total, runner, store = [], [], []
    for event in events:
        at = emitted[event["data"]["tool_call_id"]]["emitted_at"]
        built, recorded = _event_time(event), event["recorded_at"].timestamp()
        total.append(recorded - at)
        runner.append(built - at)
        store.append(recorded - built)
    return total, runner, store


def stamps(db: Any, ids: list[str]) -> dict[str, tuple[str, float]]:
    """Event id -> (generation id, recorded_at) of every event of these generations, tool calls or not: an
    events.recorded names the generation's last event in its batch, whatever its type."""
    return {d["_id"]: (d["generation_id"], d["recorded_at"].timestamp())
            for d in db.generation_events.find({"generation_id": {"$in": ids}}, {"generation_id": 1, "recorded_at": 1})}


def announced(events: list[dict[str, Any]], emitted: dict[str, dict[str, Any]], ends: dict[str, float]
              ) -> tuple[list[float], list[float]]:
    """Per tool call with a covering announcement (``ends``: event id -> its arrival): emitted -> announced,
    and the runner's event time -> announced (the upper bounds of ``latencies``' total and second part)."""
    total, store = [], []
    for event in events:
        end = ends.get(event["_id"])
        if end is not None:
            total.append(end - emitted[event["data"]["tool_call_id"]]["emitted_at"])
            store.append(end - _event_time(event))
    return total, store


def notes_on(events: list[dict[str, Any]], emitted: dict[str, Any], total: list[float]) -> list[str]:
    notes = []
    extra = len(emitted) - len({e["data"]["tool_call_id"] for e in events})
    if extra:
        notes.append(f"the emulator emitted {extra} tool calls that were not recorded (a re-driven run's "
                     f"superseded calls; the recipes are still exact)")
    negative = sum(1 for v in total if v < 0)
    if negative:
        notes.append(f"{negative} latencies below 0 (recorded_at has millisecond precision)")
    return notes
