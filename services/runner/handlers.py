"""The service layer: one generation request, driven to a terminal event by one loop over turns.

The backend (services/runner/backends/) opens the generation's turn (resumed from the record, or
started), and each turn is decided by plain rules (``backend.decide``): wait for it, answer its tool
calls, complete, or fail. Every id is recorded durably before the step that needs it, so a
redelivered request re-enters here and resumes from what was recorded. In a streamed turn each tool
call's event is handed to the publisher the moment the stream says the call is complete, and the
stream is read on while its confirm travels; every one is confirmed (a nacked or lost one published
again, same id) before the model hears "OK", before the batch is recorded and before a terminal
event. Each model turn is bounded by
RUNNER_RUN_TIMEOUT_SECONDS from its recorded start (``turn_started_at``), and each generation by
RUNNER_MAX_TURNS and RUNNER_MAX_TOOL_CALLS (``domain.Limits``).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Protocol, Sequence

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from services.common.delivery import Delivery, Received, received
from services.common.events import CloudEvent, InvalidEvent
from services.common.outcomes import ACK, DeadLetter, Outcome
from services.common.publisher import PublishError
from services.common.rejection import Rejected
from services.runner import domain
from services.runner.backends import Backend, CredentialsRefused, ModelError, ModelUnavailable, Refused, TurnTimedOut
from services.runner.domain import Complete, Deadline, Fail, Limits, Request, Submit, ToolCall, Turn, Wait
from services.runner.mongo import RunStore

log = logging.getLogger(__name__)
TERMINAL_STATUSES = ("completed", "failed")  # of a runner_runs record (not event types)
Publish = Callable[[Sequence[CloudEvent]], None]
# Backends that record each new turn's id when the turn is created (backends/responses.py, its
# ``on_created`` checkpoint): the batch answered just before rides on that write. The Assistants
# backend submits outputs to the same run and records nothing after: its batch is written before.
BATCH_WITH_NEXT_TURN = frozenset({"responses"})


class Confirmation(Protocol):
    """A publish handed over (``Publisher.publish_async``): ``wait`` returns once it is confirmed."""

    def wait(self) -> None: ...


PublishAsync = Callable[[Sequence[CloudEvent]], Confirmation]


class CredentialHold:
    """While the model API refuses the runner's credentials (401/403), requests wait here, unacked.

    A wrong or revoked key is a deployment problem every request would hit: redelivering each
    until its delivery limit would fail them all. Held instead, they finish once the key works
    again (fixed at the API, or after a restart with the right key, when they are redelivered).
    The readiness probe reports ``refused``.
    """

    def __init__(self, max_wait: float = 60.0) -> None:
        self.refused = threading.Event()
        self.stopping = threading.Event()
        self._max_wait = max_wait

    def hold(self, error: Exception, refusals: int) -> bool:
        """Wait before the next try (exponential, capped); False when the runner is stopping."""
        self.refused.set()
        delay = min(self._max_wait, 2.0 ** refusals)
        log.error("the model API refuses the runner's credentials; holding the request",
                  extra={"error": repr(error), "retry_in_seconds": delay})
        return not self.stopping.wait(delay)

    def accepted(self) -> None:
        self.refused.clear()


@dataclass(frozen=True)
class Deps:
    model: Backend
    runs: RunStore
    publish: Publish
    attempts: int = 6
    run_timeout: float = 600.0  # RUNNER_RUN_TIMEOUT_SECONDS
    credentials: CredentialHold = field(default_factory=CredentialHold)
    limits: Limits = field(default_factory=Limits)
    per_call: bool = True  # False: a streamed turn's calls too are published when the turn ends (bench.backends)
    publish_async: PublishAsync | None = None  # None: each streamed call's publish waits for its confirm

    def deadline(self, started_at: datetime) -> Deadline:
        return Deadline(started_at, self.run_timeout)


class LimitExceeded(Exception):
    def __init__(self, failure: Fail) -> None:
        super().__init__(failure.reason)
        self.failure = failure


def _now() -> datetime:
    return datetime.now(timezone.utc)


class GenerationSession:
    """One delivery of one generation: what a backend may do to it (services.runner.backends.Session)."""

    def __init__(self, request: Request, deps: Deps, record: Mapping[str, Any]) -> None:
        self.request, self.record, self._deps = request, record, deps
        # the clock keeps running across restarts; a record from before the bound existed starts it now
        self.deadline = deps.deadline(record.get("turn_started_at") or _now())
        batches = record.get("batches") or []
        self._batch_keys = {b["key"] for b in batches}
        self.counts = RunStore.counts(record)  # accepted, rejected: what generation.completed reports
        # this turn's calls decided (and their events handed over) as the stream handed them over: the
        # turn's end reuses them instead of checking and building each call a second time
        self._published: dict[str, tuple[ToolCall, int, domain.DecidedCall, Confirmation | None]] = {}
        self._unrecorded: dict[str, Any] | None = None  # an answered batch waiting for the next turn's write

    def checkpoint(self, **fields: Any) -> None:
        batch, self._unrecorded = self._unrecorded, None
        self._deps.runs.record(self.request.generation_id, batch=batch, **fields)

    def started(self, model: str | None, ids: Mapping[str, str]) -> None:
        model = model or self.request.model or self._deps.model.default_model
        self._deps.publish([domain.started_event(self.request, self._deps.model.backend, model, dict(ids))])

    def call_complete(self, call: ToolCall, position: int) -> None:
        self._check(turns=len(self._batch_keys) + 1, calls=sum(self.counts) + position + 1)
        if not self._deps.per_call:
            return
        decided = domain.decide_tool_call(self.request, call, position)
        if self._deps.publish_async is None:
            self._deps.publish([decided.event])
            self._published[call.id] = (call, position, decided, None)
        else:  # confirmed in settle(), while the stream is read on
            self._published[call.id] = (call, position, decided, self._deps.publish_async([decided.event]))

    def settle(self) -> None:
        """Wait for every event handed over in this turn; one the broker did not confirm (nacked, lost,
        timed out) is published again with its id (a duplicate consumers drop), and a second failure
        raises as ``publish`` does (the delivery is retried)."""
        again = []
        for call_id, (_, _, decided, pending) in self._published.items():
            if pending is None:
                continue
            try:
                pending.wait()
            except PublishError as exc:
                log.warning("a tool call's event was not confirmed; publishing it again", extra={
                    "generation_id": self.request.generation_id, "tool_call_id": call_id, "error": repr(exc)})
                again.append(decided.event)
        if again:
            self._deps.publish(again)
        for call_id, entry in self._published.items():
            self._published[call_id] = (*entry[:3], None)  # settled: a second settle() waits for nothing

    def answer(self, turn: Turn, calls: Sequence[ToolCall]) -> Turn:
        """Publish what the stream did not already, every event confirmed, record the batch, start the
        next turn."""
        key = calls[0].id if calls else turn.id
        new = key not in self._batch_keys
        self._check(turns=len(self._batch_keys) + (2 if new else 1),
                    calls=sum(self.counts) + (len(calls) if new else 0))
        self.settle()
        decided = [self._decided(call, position) for position, call in enumerate(calls)]
        batch = domain.batch_of([d for d, _ in decided])
        unpublished = [d.event for d, published in decided if not published]
        if unpublished:
            self._deps.publish(unpublished)  # confirmed before the model hears "OK"
        self.deadline = self._deps.deadline(_now())  # the model's next turn starts with this answer
        entry = {"key": key, "accepted": batch.accepted, "rejected": batch.rejected}
        if self._deps.model.backend in BATCH_WITH_NEXT_TURN:
            # Written with the next turn's id, in one write: a kill before it leaves the previous turn
            # recorded, and the resume answers it again (same events) and records the batch then.
            self._unrecorded = entry
        else:
            self._deps.runs.record(self.request.generation_id, batch=entry, turn_started_at=self.deadline.started_at)
        if new:
            self._batch_keys.add(key)
            self.counts = (self.counts[0] + batch.accepted, self.counts[1] + batch.rejected)
        self._published.clear()
        answered = self._deps.model.answer(self, turn, batch.outputs)
        if self._unrecorded is not None:  # the backend recorded no new turn after all: the batch alone
            self.checkpoint(turn_started_at=self.deadline.started_at)
        return answered

    def _decided(self, call: ToolCall, position: int) -> tuple[domain.DecidedCall, bool]:
        """The call decided, and whether its event is already confirmed (the same call at the same
        position decides the same event: ``domain.decide_tool_call``)."""
        known = self._published.get(call.id)  # its event's id derives from the call's id alone
        if known is not None and known[0] == call and known[1] == position:
            return known[2], True  # settled by answer()
        return domain.decide_tool_call(self.request, call, position), known is not None

    def _check(self, *, turns: int, calls: int) -> None:
        failure = self._deps.limits.exceeded(turns, calls)
        if failure is not None:
            raise LimitExceeded(failure)


def decode(delivery: Delivery) -> Received:
    """The consumer's decoder: a generation request, or ``Rejected`` with the reason (then dead-lettered)."""
    try:
        message = received(delivery)
    except InvalidEvent as exc:
        raise Rejected(f"unusable generation request: {exc}") from None
    request_of(message)
    return message


def request_of(message: Received) -> Request:
    try:
        return domain.parse_request(message.event)
    except domain.InvalidRequest as exc:
        raise Rejected(f"unusable generation request: {exc}") from None


def handle_generation_requested(message: Received, deps: Deps) -> None:
    """Drive one request to its terminal event; return only once that event is confirmed (then: ack)."""
    request = request_of(message)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("model API trouble; resuming the run",
                    extra={"generation_id": request.generation_id, "error": repr(error)})

    retrying = Retrying(retry=retry_if_exception_type(ModelUnavailable),
                        wait=wait_exponential_jitter(multiplier=0.5, max=10.0),
                        stop=stop_after_attempt(deps.attempts), before_sleep=before_sleep, reraise=True)
    refusals = 0
    while True:
        try:
            for attempt in retrying:
                with attempt:
                    _drive(request, deps)
            deps.credentials.accepted()
            return
        except CredentialsRefused as exc:
            if not deps.credentials.hold(exc, refusals):
                raise  # stopping: the request goes back to the queue, unharmed
            refusals += 1


def give_up(message: Received, error: BaseException, deps: Deps) -> Outcome:
    """The request's last allowed delivery failed (the consumer counts them): the broker would
    dead-letter it silently, so the generation ends visibly instead (then: ack)."""
    try:
        request = request_of(message)
    except Rejected as exc:
        return DeadLetter(exc.reason)
    log.error("giving up on the generation", extra={"generation_id": request.generation_id, "error": repr(error)})
    reason = f"gave up after {message.delivery.delivery_count + 1} deliveries: {error}"
    _finish(request, deps, domain.Fail(reason, "retries_exhausted"))
    return ACK


def _drive(request: Request, deps: Deps) -> None:
    record = deps.runs.get(request.generation_id)
    if record.get("status") in TERMINAL_STATUSES:
        return  # the terminal event was confirmed before this was recorded
    backend, session = deps.model, GenerationSession(request, deps, record)
    try:
        turn = backend.open(session)
        while True:
            action = backend.decide(turn)
            if isinstance(action, Wait):
                turn = backend.wait(session, turn)
            elif isinstance(action, Submit):
                turn = session.answer(turn, action.calls)
            elif isinstance(action, Complete):
                accepted, rejected = session.counts  # every batch of the generation, as recorded
                message = backend.final_message(session, turn)
                session.settle()  # nothing pending after a turn without calls; the rule holds regardless
                deps.publish([domain.completed_event(request, message, accepted, rejected)])
                deps.runs.record(request.generation_id, status="completed")
                return
            else:
                session.settle()  # a turn that failed mid-stream: its calls' events go first
                return _finish(request, deps, action)
    except TurnTimedOut:
        log.warning("model turn timed out; cancelling it", extra={"generation_id": request.generation_id,
                                                                  "timeout": deps.run_timeout})
        session.settle()
        _cancel_and_fail(request, deps, domain.timeout_failure(deps.run_timeout))
    except LimitExceeded as exc:
        log.warning("generation limit reached; cancelling its turn", extra={
            "generation_id": request.generation_id, "reason": exc.failure.reason})
        session.settle()
        _cancel_and_fail(request, deps, exc.failure)
    except (Refused, domain.InvalidRequest) as exc:
        code = getattr(exc, "code", None)
        session.settle()
        _finish(request, deps, domain.Fail(f"the model API refused the request: {exc}",
                                           "model_not_found" if code == "model_not_found" else "request_refused"))


def _finish(request: Request, deps: Deps, failure: Fail) -> None:
    deps.publish([domain.failed_event(request, failure.reason, failure.code)])
    deps.runs.record(request.generation_id, status="failed", reason=failure.reason)


def _cancel_and_fail(request: Request, deps: Deps, failure: Fail) -> None:
    """Cancel the generation's turn (best effort), then fail it. Its ids were recorded before anything
    waited on them. The failure is recorded as terminal: a redelivery starts nothing, nothing completes it."""
    gid = request.generation_id
    try:
        deps.model.cancel(deps.runs.get(gid))
    except (ModelError, KeyError) as exc:
        log.warning("could not cancel the generation's turn", extra={"generation_id": gid, "error": repr(exc)})
    _finish(request, deps, failure)
