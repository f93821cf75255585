"""The store's rules, without I/O: what an event changes, as plain values.

``changes_for(event)`` turns one event into a list of changes. Each change is
idempotent and commutative on its own (docs/data-model.md says how), so the
documents they produce depend neither on how often nor in which order the
events arrive. ``projection.py`` applies them in memory (the reference
semantics); ``mongo.py`` translates them into MongoDB updates.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Union

from services.common import schemas, vocabulary
from services.common.rejection import Rejected
from services.common.events import CloudEvent

# A generation's status only moves up this ranking. completed outranks failed,
# so if both were ever recorded the result does not depend on their order.
STATUS_RANK = {"requested": 0, "running": 1, "failed": 2, "completed": 3}
# Items sort by the time of their tool call, then by its position in the model's list of calls
# of that run step (optional ``position`` in the event's data; 0 when absent), then by call id.
INGREDIENT_ORDER = ("added_at", "position", "tool_call_id")
STEP_ORDER = ("step_number", "added_at", "position", "tool_call_id")


class NotForTheStore(Rejected):
    """A valid event the store has no rule for (wrong routing): dead-letter it with ``reason``."""


@dataclass(frozen=True)
class TouchRecipe:
    """Make sure the recipe document exists (parts may arrive before addRecipe)."""
    recipe_id: str
    slug: str
    generation_id: str
    at: datetime


@dataclass(frozen=True)
class DescribeRecipe:
    """Name and description; the latest (at, tool_call_id) wins if the model sends addRecipe twice."""
    recipe_id: str
    name: str
    description: str
    keywords: tuple[str, ...]
    tool_call_id: str
    at: datetime


@dataclass(frozen=True)
class AddItem:
    """Add an ingredient or a step once per tool call, kept sorted by ``order``."""
    recipe_id: str
    kind: str  # "ingredients" | "steps"
    item: Mapping[str, Any]  # includes tool_call_id and added_at

    @property
    def order(self) -> tuple[str, ...]:
        return STEP_ORDER if self.kind == "steps" else INGREDIENT_ORDER


@dataclass(frozen=True)
class UpdateGeneration:
    generation_id: str
    at: datetime
    status: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    recipe_id: str | None = None
    # generation.requested's model counts only until generation.started says which model ran.
    requested_model: str | None = None


Change = Union[TouchRecipe, DescribeRecipe, AddItem, UpdateGeneration]


def event_time(event: CloudEvent) -> datetime:
    """The event's time, in UTC, truncated to milliseconds (what BSON dates keep)."""
    at = datetime.fromisoformat(event.time)
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    at = at.astimezone(timezone.utc)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def keywords(*texts: str) -> tuple[str, ...]:
    """Lower-cased words of the texts, unique, sorted: what search by words matches."""
    return tuple(sorted({word for text in texts for word in vocabulary.words(text)}))


def recipe_id_of(event: CloudEvent) -> str | None:
    if event.type not in schemas.TOOLCALL_TYPES:
        return None
    return schemas.recipe_id_for(event.data["generation_id"], event.data["arguments"]["id"])


def changes_for(event: CloudEvent) -> list[Change]:
    """What ``event`` changes; raise NotForTheStore for a type the store has no rule for."""
    rule = _RULES.get(event.type)
    if rule is None:
        raise NotForTheStore(f"the store does not handle events of type {event.type!r}")
    return rule(event, event.data, event_time(event))


def _tool_call(event: CloudEvent, data: Mapping[str, Any], at: datetime) -> list[Change]:
    args, generation_id = data["arguments"], data["generation_id"]
    recipe_id = schemas.recipe_id_for(generation_id, args["id"])
    changes: list[Change] = [
        UpdateGeneration(generation_id, at, status="running", recipe_id=recipe_id),
        TouchRecipe(recipe_id, args["id"], generation_id, at),
    ]
    position = data.get("position")
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        position = 0  # absent or unusable: order by time and call id only
    call = {"tool_call_id": data["tool_call_id"], "added_at": at, "position": position}
    if event.type == schemas.TOOLCALL_ADD_RECIPE:
        changes.append(DescribeRecipe(recipe_id, args["name"], args["description"],
                                      keywords(args["name"], args["id"]), data["tool_call_id"], at))
    elif event.type == schemas.TOOLCALL_ADD_INGREDIENT:
        changes.append(AddItem(recipe_id, "ingredients",
                               {"ingredient": args["ingredient"], "quantity": args["quantity"], **call}))
    else:
        changes.append(AddItem(recipe_id, "steps",
                               {"step_number": args["step_number"], "instructions": args["instructions"], **call}))
    return changes


def _present(data: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: data[name] for name in names if data.get(name) is not None}


def _requested(_e: CloudEvent, data: Mapping[str, Any], at: datetime) -> list[Change]:
    fields = {**_present(data, "prompt", "instructions", "owner"), "requested_at": at}
    return [UpdateGeneration(data["generation_id"], at, "requested", fields, requested_model=data.get("model"))]


def _started(_e: CloudEvent, data: Mapping[str, Any], at: datetime) -> list[Change]:
    fields = {**_present(data, "backend", "model", "thread_id", "run_id", "response_id", "assistant_id"),
              "started_at": at}
    return [UpdateGeneration(data["generation_id"], at, "running", fields)]


def _completed(_e: CloudEvent, data: Mapping[str, Any], at: datetime) -> list[Change]:
    fields = {**_present(data, "message", "tool_calls", "rejected_tool_calls"), "completed_at": at}
    return [UpdateGeneration(data["generation_id"], at, "completed", fields)]


def _failed(_e: CloudEvent, data: Mapping[str, Any], at: datetime) -> list[Change]:
    fields = {"error": {"reason": data["reason"], "code": data.get("code")}, "failed_at": at}
    return [UpdateGeneration(data["generation_id"], at, "failed", fields)]


def _rejected(_e: CloudEvent, data: Mapping[str, Any], at: datetime) -> list[Change]:
    # Only recorded in generation_events; the generation is evidently running.
    return [UpdateGeneration(data["generation_id"], at, "running")]


_RULES = {
    schemas.TOOLCALL_ADD_RECIPE: _tool_call,
    schemas.TOOLCALL_ADD_INGREDIENT: _tool_call,
    schemas.TOOLCALL_ADD_STEP: _tool_call,
    schemas.TOOLCALL_REJECTED: _rejected,
    schemas.GENERATION_REQUESTED: _requested,
    schemas.GENERATION_STARTED: _started,
    schemas.GENERATION_COMPLETED: _completed,
    schemas.GENERATION_FAILED: _failed,
}
