"""The service layer: one generation request, driven to a terminal event.

Sequence (each id is recorded durably before the step that needs it):
thread -> record thread_id -> user message -> record message_added ->
run (found by runs.list if one exists, else created) -> record run_id ->
generation.started -> per requires_action batch: confirm events, submit ->
generation.completed | generation.failed -> record status.
A redelivered request re-enters here and resumes from what was recorded.
Each model turn is bounded by RUNNER_RUN_TIMEOUT_SECONDS from its recorded
start (``turn_started_at``): past it, the turn is cancelled and the
generation fails with code ``run_timeout``.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Protocol, Sequence

import openai
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from services.common.consumer import Delivery, PoisonMessage
from services.common.events import CloudEvent, InvalidEvent, decode
from services.runner import domain
from services.runner.domain import Complete, Deadline, Fail, Request, Submit, Wait
from services.runner.model_api import (TRANSIENT_ERRORS, ResponsesModel, RunState, StreamBroken, TurnState,
                                       TurnTimedOut)
from services.runner.mongo import RunStore

log = logging.getLogger(__name__)
TERMINAL = ("completed", "failed")


class ModelApi(Protocol):
    backend: str
    default_model: str

    def assistant_id(self) -> str: ...
    def create_thread(self) -> str: ...
    def has_user_message(self, thread_id: str) -> bool: ...
    def add_message(self, thread_id: str, prompt: str) -> None: ...
    def find_run(self, thread_id: str) -> RunState | None: ...
    def start_run(self, thread_id: str, *, instructions: str | None, model: str | None,
                  metadata: dict[str, str], on_created: Callable[[RunState], None],
                  deadline: Deadline | None = None) -> RunState: ...
    def submit(self, thread_id: str, run_id: str, outputs: Sequence[dict[str, str]],
               deadline: Deadline | None = None) -> RunState: ...
    def retrieve(self, thread_id: str, run_id: str) -> RunState: ...
    def wait(self, thread_id: str, run_id: str, deadline: Deadline | None = None) -> RunState: ...
    def cancel(self, thread_id: str, run_id: str) -> None: ...
    def final_message(self, thread_id: str, run_id: str) -> str: ...


Publish = Callable[[Sequence[CloudEvent]], None]


CREDENTIAL_ERRORS = (openai.AuthenticationError, openai.PermissionDeniedError)


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
    model: ModelApi | ResponsesModel
    runs: RunStore
    publish: Publish
    attempts: int = 6
    delivery_limit: int = 20
    run_timeout: float = 600.0  # RUNNER_RUN_TIMEOUT_SECONDS
    credentials: CredentialHold = field(default_factory=CredentialHold)

    def deadline(self, started_at: datetime) -> Deadline:
        return Deadline(started_at, self.run_timeout)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def handle_generation_requested(delivery: Delivery, deps: Deps) -> None:
    """Drive one request to its terminal event; return only once that event is confirmed (then: ack)."""
    try:
        request = domain.parse_request(decode(delivery.body))
    except (InvalidEvent, domain.InvalidRequest) as exc:
        raise PoisonMessage(f"unusable generation request: {exc}") from None
    retrying = Retrying(
        retry=retry_if_exception_type((*TRANSIENT_ERRORS, StreamBroken)),
        wait=wait_exponential_jitter(multiplier=0.5, max=10.0),
        stop=stop_after_attempt(deps.attempts),
        before_sleep=lambda state: log.warning(
            "model API trouble; resuming the run", extra={"generation_id": request.generation_id,
                                                          "error": repr(state.outcome.exception())}),
        reraise=True,
    )
    refusals = 0
    while True:
        try:
            for attempt in retrying:
                with attempt:
                    if isinstance(deps.model, ResponsesModel):
                        _drive_responses(request, deps, deps.model)
                    else:
                        _drive(request, deps)
            deps.credentials.accepted()
            return
        except CREDENTIAL_ERRORS as exc:
            if not deps.credentials.hold(exc, refusals):
                raise  # stopping: the request goes back to the queue, unharmed
            refusals += 1
        except Exception as exc:
            if delivery.delivery_count < deps.delivery_limit:
                raise  # requeued: the next delivery resumes the run
            # The broker would dead-letter this delivery silently: end the generation visibly instead.
            log.error("giving up on the generation", extra={"generation_id": request.generation_id,
                                                            "error": repr(exc)})
            reason = f"gave up after {delivery.delivery_count + 1} deliveries: {exc}"
            _finish(request, deps, domain.Fail(reason, "retries_exhausted"))
            return


def _refused(exc: Exception) -> domain.Fail:
    """The failure for a request the model API refused for good; a model it does not serve says so by code."""
    code = "model_not_found" if getattr(exc, "code", None) == "model_not_found" else "request_refused"
    return domain.Fail(f"the model API refused the request: {exc}", code)


def _drive(request: Request, deps: Deps) -> None:
    record = deps.runs.get(request.generation_id)
    if record.get("status") in TERMINAL:
        return  # the terminal event was confirmed before this was recorded
    try:
        thread_id, run, started_at = _ensure_run(request, deps, record)
        _run_to_end(request, deps, thread_id, run, started_at)
    except TurnTimedOut:
        _time_out(request, deps, lambda recorded: deps.model.cancel(recorded["thread_id"], recorded["run_id"]))
    except (openai.APIStatusError, domain.InvalidRequest) as exc:
        if isinstance(exc, (*TRANSIENT_ERRORS, *CREDENTIAL_ERRORS)):
            raise  # worth another attempt, or a deployment problem (held until the credentials work)
        _finish(request, deps, _refused(exc))


def _run_to_end(request: Request, deps: Deps, thread_id: str, run: RunState, started_at: datetime) -> None:
    gid = request.generation_id
    deadline = deps.deadline(started_at)
    while True:
        action = domain.next_action(run.status, run.tool_calls, run.error_message, run.error_code)
        if isinstance(action, Wait):
            run = deps.model.wait(thread_id, run.id, deadline)
        elif isinstance(action, Submit):
            batch = domain.decide_tool_calls(request, action.calls)
            deps.publish(batch.events)  # confirmed before the model hears "OK"
            key = action.calls[0].id if action.calls else run.id
            deadline = deps.deadline(_now())  # the model's next turn starts with this submit
            deps.runs.record_batch(gid, key, batch.accepted, batch.rejected, turn_started_at=deadline.started_at)
            run = deps.model.submit(thread_id, run.id, batch.outputs, deadline)
        elif isinstance(action, Complete):
            accepted, rejected = RunStore.counts(deps.runs.get(gid))
            message = deps.model.final_message(thread_id, run.id)
            deps.publish([domain.completed_event(request, message, accepted, rejected)])
            deps.runs.record(gid, status="completed")
            return
        else:
            return _finish(request, deps, action)


def _ensure_run(request: Request, deps: Deps, record: dict) -> tuple[str, RunState, datetime]:
    """The generation's thread and run (found, or created), and when the run's current turn started."""
    gid, model = request.generation_id, deps.model
    thread_id = record.get("thread_id")
    if not thread_id:
        assistant_id = model.assistant_id()
        thread_id = model.create_thread()
        deps.runs.record(gid, thread_id=thread_id, assistant_id=assistant_id, status="thread_created")
    if not record.get("message_added"):
        if not model.has_user_message(thread_id):
            model.add_message(thread_id, request.prompt)
        deps.runs.record(gid, message_added=True)
    run_id = record.get("run_id")
    run = model.retrieve(thread_id, run_id) if run_id else model.find_run(thread_id)
    if run is not None:
        log.info("resuming the generation's run", extra={"generation_id": gid, "run_id": run.id,
                                                         "status": run.status, "recorded": bool(run_id)})
        # the clock keeps running across restarts; a record from before the bound existed starts it now
        started_at = (record.get("turn_started_at") if run_id else None) or _now()
        _started(request, deps, thread_id, run, started_at)
        return thread_id, run, started_at

    started_at = _now()

    def on_created(state: RunState) -> None:
        _started(request, deps, thread_id, state, started_at)

    run = model.start_run(thread_id, instructions=request.instructions, model=request.model,
                          metadata={"generation_id": gid}, on_created=on_created,
                          deadline=deps.deadline(started_at))
    return thread_id, run, started_at


def _started(request: Request, deps: Deps, thread_id: str, run: RunState, started_at: datetime) -> None:
    """Record the run id and its turn's start durably, then announce it (same event id on every replay)."""
    deps.runs.record(request.generation_id, run_id=run.id, status="running", turn_started_at=started_at)
    ids = {"thread_id": thread_id, "run_id": run.id}
    if run.assistant_id:
        ids["assistant_id"] = run.assistant_id
    model = run.model or request.model or deps.model.default_model
    deps.publish([domain.started_event(request, deps.model.backend, model, ids)])


def _finish(request: Request, deps: Deps, failure: Fail) -> None:
    deps.publish([domain.failed_event(request, failure.reason, failure.code)])
    deps.runs.record(request.generation_id, status="failed", reason=failure.reason)


def _time_out(request: Request, deps: Deps, cancel: Callable[[dict[str, Any]], None]) -> None:
    """A turn outlived RUNNER_RUN_TIMEOUT_SECONDS: cancel it (best effort), then fail the generation.

    ``cancel`` gets the generation's record (its ids were recorded before anything waited on them).
    The failure is recorded as terminal, so a redelivery starts nothing and nothing completes it later.
    """
    gid = request.generation_id
    log.warning("model turn timed out; cancelling it", extra={"generation_id": gid, "timeout": deps.run_timeout})
    try:
        cancel(deps.runs.get(gid))
    except (openai.APIError, KeyError) as exc:  # e.g. a streamed response: only background ones can be cancelled
        log.warning("could not cancel the timed-out turn", extra={"generation_id": gid, "error": repr(exc)})
    _finish(request, deps, domain.timeout_failure(deps.run_timeout))


def _drive_responses(request: Request, deps: Deps, model: ResponsesModel) -> None:
    """The Responses backend: a chain of turns; the latest turn's id is recorded as soon as it exists."""
    gid = request.generation_id
    record = deps.runs.get(gid)
    if record.get("status") in TERMINAL:
        return
    instructions = domain.ASSISTANT_INSTRUCTIONS + (f"\n\n{request.instructions}" if request.instructions else "")
    first_id = record.get("first_response_id")

    deadline = deps.deadline(_now())

    def on_created(turn: TurnState) -> None:
        nonlocal first_id
        started_at = deadline.started_at
        if first_id is None:
            first_id = turn.id
            deps.runs.record(gid, first_response_id=turn.id, response_id=turn.id, status="running",
                             turn_started_at=started_at)
            ids = {"response_id": turn.id}
            deps.publish([domain.started_event(request, model.backend, turn.model or model.default_model, ids)])
        else:
            deps.runs.record(gid, response_id=turn.id, turn_started_at=started_at)

    def create(previous_id: str | None, outputs: Sequence[dict[str, str]]) -> TurnState:
        nonlocal deadline
        deadline = deps.deadline(_now())  # each turn has its own bound
        return model.create(prompt=request.prompt, instructions=instructions, previous_id=previous_id,
                            outputs=outputs, model=request.model, metadata={"generation_id": gid},
                            on_created=on_created, deadline=deadline)

    try:
        if record.get("response_id"):
            turn = model.retrieve(record["response_id"])
            # the clock keeps running across restarts; a record from before the bound existed starts it now
            deadline = deps.deadline(record.get("turn_started_at") or _now())
            log.info("resuming the generation's responses", extra={"generation_id": gid, "response_id": turn.id})
            ids = {"response_id": first_id or turn.id}
            deps.publish([domain.started_event(request, model.backend, turn.model or model.default_model, ids)])
        else:
            turn = create(None, ())
        while True:
            action = domain.next_response_action(turn.status, turn.tool_calls, turn.error_message, turn.error_code)
            if isinstance(action, Wait):
                turn = model.wait(turn.id, deadline)
            elif isinstance(action, Submit):
                batch = domain.decide_tool_calls(request, action.calls)
                deps.publish(batch.events)  # confirmed before the model hears "OK"
                deps.runs.record_batch(gid, action.calls[0].id, batch.accepted, batch.rejected)
                turn = create(turn.id, batch.outputs)
            elif isinstance(action, Complete):
                accepted, rejected = RunStore.counts(deps.runs.get(gid))
                deps.publish([domain.completed_event(request, turn.message, accepted, rejected)])
                deps.runs.record(gid, status="completed")
                return
            else:
                return _finish(request, deps, action)
    except TurnTimedOut:
        _time_out(request, deps, lambda recorded: model.cancel(recorded["response_id"]))
    except (openai.APIStatusError, domain.InvalidRequest) as exc:
        if isinstance(exc, (*TRANSIENT_ERRORS, *CREDENTIAL_ERRORS)):
            raise
        _finish(request, deps, _refused(exc))


HANDLERS: dict[str, Callable[[Delivery, Deps], None]] = {
    "generation.requested": handle_generation_requested,
}
