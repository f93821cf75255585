"""The runner's rules, with no I/O: what a request is, what a run's state means,
what each tool call becomes (an event and an answer for the model).

Everything here is deterministic: the same request and the same tool calls
give the same event ids, so a replay after a crash re-emits only duplicates
that consumers drop.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

from services.common import schemas
from services.common.events import CloudEvent, InvalidEvent, derived_event_id, new_event
from services.common.tools import TOOL_EVENT_TYPES, check_tool_call
from services.common.validation import printable

SOURCE = "runner"
ASSISTANT_NAME = "Recipe Generator"
ASSISTANT_INSTRUCTIONS = "You are a sous chef, you compose recipes that are easy to follow."
OK_OUTPUT = "OK"

WAITING = frozenset({"queued", "in_progress", "cancelling"})
FAILED = {
    "failed": "run failed",
    "expired": "run expired",
    "cancelled": "run cancelled",
    "incomplete": "run incomplete",
}


RUN_TIMEOUT_CODE = "run_timeout"


class InvalidRequest(ValueError):
    """The generation request can never be served; the reason says why."""


@dataclass(frozen=True)
class Request:
    generation_id: str
    prompt: str
    instructions: str | None
    model: str | None
    traceparent: str | None


def parse_request(event: CloudEvent) -> Request:
    if event.type != schemas.GENERATION_REQUESTED:
        raise InvalidRequest(f"expected {schemas.GENERATION_REQUESTED}, got {event.type}")
    data = event.data
    return Request(
        generation_id=data["generation_id"],
        prompt=data["prompt"],
        instructions=data.get("instructions") or None,
        model=data.get("model") or None,
        traceparent=event.traceparent,
    )


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolBatch:
    """One requires_action batch, decided: events to publish (confirmed first), answers for the model."""

    events: tuple[CloudEvent, ...]
    outputs: tuple[dict[str, str], ...]
    accepted: int
    rejected: int


def decide_tool_calls(request: Request, calls: Sequence[ToolCall]) -> ToolBatch:
    events: list[CloudEvent] = []
    outputs: list[dict[str, str]] = []
    accepted = rejected = 0
    for position, call in enumerate(calls):
        check = check_tool_call(call.name, call.arguments)
        event_id = derived_event_id(request.generation_id, call.id)
        if check.ok:
            accepted += 1
            data = {"generation_id": request.generation_id, "tool_call_id": call.id, "arguments": check.arguments,
                    "position": position}
            events.append(_event(TOOL_EVENT_TYPES[call.name], request, data, event_id))
            outputs.append({"tool_call_id": call.id, "output": OK_OUTPUT})
        else:
            rejected += 1
            data = {"generation_id": request.generation_id, "tool_call_id": call.id,
                    # printable: the model's raw text may hold a lone surrogate, which cannot be sent
                    "tool": printable(str(call.name)), "arguments": printable(str(call.arguments)),
                    "error": check.error or ""}
            events.append(_event(schemas.TOOLCALL_REJECTED, request, data, event_id))
            outputs.append({"tool_call_id": call.id, "output": check.error or "Error"})
    return ToolBatch(tuple(events), tuple(outputs), accepted, rejected)


# -- the run state machine ----------------------------------------------------------


@dataclass(frozen=True)
class Wait:
    """The run is busy: learn of its next state (stream or poll)."""


@dataclass(frozen=True)
class Submit:
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class Complete:
    pass


@dataclass(frozen=True)
class Fail:
    reason: str
    code: str | None


Action = Wait | Submit | Complete | Fail


def next_action(status: str | None, tool_calls: Sequence[ToolCall] = (),
                error_message: str | None = None, error_code: str | None = None) -> Action:
    """What to do about a run in ``status`` (unknown or missing statuses: keep waiting, like the SDK)."""
    if status == "requires_action":
        return Submit(tuple(tool_calls))
    if status == "completed":
        return Complete()
    if status in FAILED:
        reason = FAILED[status] + (f": {error_message}" if error_message else "")
        return Fail(reason, error_code or status)
    return Wait()


# -- the local bound on a model turn ---------------------------------------------------


def _utc(moment: datetime) -> datetime:
    """MongoDB may hand back naive datetimes (tz_aware off): they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Deadline:
    """The bound on one model turn: from when the runner started it (as recorded, so a restart keeps
    the clock), ``timeout`` seconds."""

    started_at: datetime
    timeout: float

    def seconds_left(self, now: datetime) -> float:
        """How long the turn may still run at ``now`` (negative: overdue)."""
        return self.timeout - (_utc(now) - _utc(self.started_at)).total_seconds()

    def passed(self, now: datetime) -> bool:
        """Has the turn used up its ``timeout`` by ``now``?"""
        return self.seconds_left(now) <= 0


def timeout_failure(timeout: float) -> Fail:
    return Fail(f"run timed out: the model API had not finished it after {timeout:g} s "
                f"(RUNNER_RUN_TIMEOUT_SECONDS); it was cancelled", RUN_TIMEOUT_CODE)


# -- lifecycle events -----------------------------------------------------------------


def started_event(request: Request, backend: str, model: str, ids: dict[str, str]) -> CloudEvent:
    data = {"generation_id": request.generation_id, "backend": backend, "model": model, **ids}
    return _event(schemas.GENERATION_STARTED, request, data, derived_event_id(request.generation_id, "started"))


def completed_event(request: Request, message: str, tool_calls: int, rejected: int) -> CloudEvent:
    data = {"generation_id": request.generation_id, "message": message,
            "tool_calls": tool_calls, "rejected_tool_calls": rejected}
    return _event(schemas.GENERATION_COMPLETED, request, data, derived_event_id(request.generation_id, "completed"))


def failed_event(request: Request, reason: str, code: str | None = None) -> CloudEvent:
    data = {"generation_id": request.generation_id, "reason": reason}
    if code:
        data["code"] = code
    return _event(schemas.GENERATION_FAILED, request, data, derived_event_id(request.generation_id, "failed"))


def _event(event_type: str, request: Request, data: dict, event_id: str) -> CloudEvent:
    try:
        return new_event(event_type, SOURCE, data, subject=request.generation_id,
                         event_id=event_id, traceparent=request.traceparent)
    except InvalidEvent as exc:  # e.g. a tool call id too long for the contract
        raise InvalidRequest(f"cannot build {event_type}: {exc.reason}") from None


def next_response_action(status: str | None, tool_calls: Sequence[ToolCall] = (),
                         error_message: str | None = None, error_code: str | None = None) -> Action:
    """The same decisions for one Responses turn: a completed turn with function calls needs outputs."""
    if status == "completed":
        return Submit(tuple(tool_calls)) if tool_calls else Complete()
    if status in ("failed", "incomplete", "cancelled"):
        reason = f"response {status}" + (f": {error_message}" if error_message else "")
        return Fail(reason, error_code or status)
    return Wait()
