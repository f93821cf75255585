"""Event streams for the store's tests and benchmark: the seed's recipe as the runner would publish it."""
from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from services.common import schemas
from services.common.events import CloudEvent, derived_event_id, new_event

ROOT = Path(__file__).resolve().parents[2]
SEED: dict[str, Any] = json.loads((ROOT / "services/emulator/seed_recipe.json").read_text())
BASE_TIME = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def at(offset_ms: int) -> str:
    return (BASE_TIME + timedelta(milliseconds=offset_ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(event_type: str, data: dict[str, Any], offset_ms: int, event_id: str | None = None) -> CloudEvent:
    made = new_event(event_type, "runner", data, subject=data["generation_id"], event_id=event_id)
    return dataclasses.replace(made, time=at(offset_ms))


def tool_call(generation_id: str, event_type: str, call: str, arguments: dict[str, Any], offset_ms: int,
              position: int | None = None) -> CloudEvent:
    data = {"generation_id": generation_id, "tool_call_id": call, "arguments": arguments}
    if position is not None:
        data["position"] = position
    return event(event_type, data, offset_ms, event_id=derived_event_id(generation_id, call))


def seed_tool_calls(generation_id: str, slug: str | None = None, start_ms: int = 10) -> list[CloudEvent]:
    """addRecipe, 19 addIngredient, 9 addStep: the seed's tool calls, in the model's order."""
    slug = slug or SEED["recipe"]["id"]
    calls = [(schemas.TOOLCALL_ADD_RECIPE, {**SEED["recipe"], "id": slug})]
    calls += [(schemas.TOOLCALL_ADD_INGREDIENT, {"id": slug, **item}) for item in SEED["ingredients"]]
    calls += [(schemas.TOOLCALL_ADD_STEP, {"id": slug, **step}) for step in SEED["steps"]]
    return [tool_call(generation_id, kind, f"call_{i:03d}", args, start_ms + i, position=i)
            for i, (kind, args) in enumerate(calls)]


def seed_stream(generation_id: str | None = None) -> list[CloudEvent]:
    """requested, started, the 29 tool calls, completed: 32 events of one generation."""
    gid = generation_id or str(uuid.uuid4())
    return [
        event(schemas.GENERATION_REQUESTED, {"generation_id": gid, "prompt": SEED["prompt"],
                                             "instructions": SEED["instructions"], "model": None}, 0),
        event(schemas.GENERATION_STARTED, {"generation_id": gid, "backend": "assistants",
                                           "model": "gpt-4-1106-preview", "thread_id": "thread_1",
                                           "run_id": "run_1"}, 5),
        *seed_tool_calls(gid),
        event(schemas.GENERATION_COMPLETED, {"generation_id": gid, "message": SEED["final_message"],
                                             "tool_calls": 29, "rejected_tool_calls": 0}, 100),
    ]


def many_generations(count: int) -> list[CloudEvent]:
    """``count`` seed generations, one after the other (32 events each)."""
    return [e for _ in range(count) for e in seed_stream()]
