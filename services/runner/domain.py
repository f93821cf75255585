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


@dataclass(frozen=True)
class DecidedCall:
    """One tool call, decided: its event (accepted or rejected) and the model's answer."""

    event: CloudEvent
    output: dict[str, str]
    accepted: bool


def decide_tool_call(request: Request, call: ToolCall, position: int) -> DecidedCall:
    """The same call and position give the same event (id and content), whenever it is decided."""
    check = check_tool_call(call.name, call.arguments)
    event_id = derived_event_id(request.generation_id, call.id)
    if check.ok:
        data = {"generation_id": request.generation_id, "tool_call_id": call.id, "arguments": check.arguments,
                "position": position}
        return DecidedCall(_event(TOOL_EVENT_TYPES[call.name], request, data, event_id),
                           {"tool_call_id": call.id, "output": OK_OUTPUT}, True)
    data = {"generation_id": request.generation_id, "tool_call_id": call.id,
            # printable: the model's raw text may hold a lone surrogate, which cannot be sent
            "tool": printable(str(call.name)), "arguments": printable(str(call.arguments)),
            "error": check.error or ""}
    return DecidedCall(_event(schemas.TOOLCALL_REJECTED, request, data, event_id),
                       {"tool_call_id": call.id, "output": check.error or "Error"}, False)


def decide_tool_calls(request: Request, calls: Sequence[ToolCall]) -> ToolBatch:
    return batch_of([decide_tool_call(request, call, position) for position, call in enumerate(calls)])


def batch_of(decided: Sequence[DecidedCall]) -> ToolBatch:
    """A batch of calls already decided, in the model's order."""
    accepted = sum(1 for d in decided if d.accepted)
    return ToolBatch(tuple(d.event for d in decided), tuple(d.output for d in decided),
                     accepted, len(decided) - accepted)


@dataclass(frozen=True)
class Turn:
    """One model turn as the runner sees it (an Assistants run's current state, or one response)."""

    id: str
    status: str | None  # None: unknown (a broken stream); the backend looks again
    model: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    message: str = ""
    error_message: str | None = None
    error_code: str | None = None
    assistant_id: str | None = None
    thread_id: str | None = None


LIMIT_CODE = "limit_exceeded"


@dataclass(frozen=True)
class Limits:
    """Bounds on one generation (RUNNER_MAX_TURNS, RUNNER_MAX_TOOL_CALLS): a runaway model stops here."""

    max_turns: int = 100
    max_tool_calls: int = 1000

    def exceeded(self, turns: int, tool_calls: int) -> Fail | None:
        """The failure once ``turns`` answered turns or ``tool_calls`` calls pass a bound, else None."""
        if turns > self.max_turns:
            return Fail(f"the model took more than {self.max_turns} turns (RUNNER_MAX_TURNS); "
                        "its turn was cancelled", LIMIT_CODE)
        if tool_calls > self.max_tool_calls:
            return Fail(f"the model made more than {self.max_tool_calls} tool calls (RUNNER_MAX_TOOL_CALLS); "
                        "its turn was cancelled", LIMIT_CODE)
        return None


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
