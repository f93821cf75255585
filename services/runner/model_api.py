"""The model API adapter (Assistants): the only module that imports openai.

It speaks in the domain's terms (``RunState``, ``ToolCall``) so the handler
never sees SDK objects. Runs are streamed (``stream=True`` on create and on
submit_tool_outputs); when a stream is unavailable or breaks, the run is
polled with backoff, honouring ``openai-poll-after-ms`` on every answer.
The SDK itself retries 429/5xx/timeouts (``max_retries``), honouring
``retry-after``. Every wait on a turn (stream, poll, webhook) is bounded by
a ``Deadline``; past it, ``TurnTimedOut`` is raised (the handler cancels).
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

import openai
from openai import OpenAI

from services.common.tools import assistants_tools, responses_tools
from services.common.watchdog import Watchdog, shutdown_socket
from services.runner.platform import ProbeFailed
from services.runner.domain import ASSISTANT_INSTRUCTIONS, ASSISTANT_NAME, WAITING, Deadline, ToolCall

if TYPE_CHECKING:
    from services.runner.model_events import ResponseWaiter

log = logging.getLogger(__name__)

# Errors worth trying again once the SDK's own retries are spent (the handler resumes the run).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError, openai.ConflictError,
)
PLACEHOLDER_KEY = "emulator-no-key"


class StreamBroken(Exception):
    """A run stream ended before it told us the run's id; the run must be found by listing."""


# A Responses turn the model has not finished (None: a broken stream left its status unknown).
TURN_UNFINISHED = (None, "queued", "in_progress")


class TurnTimedOut(Exception):
    """A run / response turn was still unfinished at its deadline (RUNNER_RUN_TIMEOUT_SECONDS)."""

    def __init__(self, turn_id: str | None) -> None:
        super().__init__(f"{turn_id or 'the turn'} was still unfinished at its deadline")
        self.turn_id = turn_id


def _seconds_left(deadline: Deadline | None) -> float:
    return math.inf if deadline is None else deadline.seconds_left(datetime.now(timezone.utc))


_WATCHDOG = Watchdog()


class _StreamDeadline:
    """Aborts a stream when its turn's deadline passes, so a stream that stays open without a word
    (or with keep-alives only) does not block its worker past the bound; ``fired`` says it did."""

    def __init__(self, stream: Any, deadline: Deadline | None) -> None:
        self._stream = stream
        self._deadline = deadline
        self._token: int | None = None
        self.fired = False

    def __enter__(self) -> "_StreamDeadline":
        left = _seconds_left(self._deadline)
        if not math.isinf(left):
            self._token = _WATCHDOG.arm(left, self._abort)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._token is not None:
            _WATCHDOG.disarm(self._token)

    def _abort(self) -> None:
        response = self._stream.response
        if response.is_closed:  # read to its end just now: its connection may already serve another request
            return
        self.fired = True
        log.info("turn deadline passed; closing its stream")
        network = response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        if sock is None:
            response.close()
            return
        shutdown_socket(sock)  # already closed: the stream ended on its own


@dataclass(frozen=True)
class RunState:
    id: str
    status: str | None
    assistant_id: str | None = None
    model: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    error_message: str | None = None
    error_code: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def make_client(api_key: str | None, base_url: str | None, *, max_retries: int = 5,
                timeout: float = 120.0) -> OpenAI:
    return OpenAI(api_key=api_key or PLACEHOLDER_KEY, base_url=base_url, max_retries=max_retries, timeout=timeout)


def _state(run: Any) -> RunState:
    calls: tuple[ToolCall, ...] = ()
    action = getattr(run, "required_action", None)
    if action is not None and action.submit_tool_outputs is not None:
        calls = tuple(ToolCall(c.id, c.function.name, c.function.arguments)
                      for c in action.submit_tool_outputs.tool_calls or ())
    error = getattr(run, "last_error", None)
    return RunState(
        id=run.id, status=run.status, assistant_id=run.assistant_id, model=run.model, tool_calls=calls,
        error_message=getattr(error, "message", None), error_code=getattr(error, "code", None),
        metadata=dict(run.metadata or {}),
    )


class AssistantElection(Protocol):
    """Where runner processes agree on one assistant (services.runner.mongo.AssistantRegistry)."""

    def get(self, name: str) -> str | None: ...
    def claim(self, name: str, assistant_id: str) -> str: ...
    def forget(self, name: str, assistant_id: str) -> None: ...


class AssistantsModel:
    backend = "assistants"

    def __init__(self, client: OpenAI, model: str, *, poll_max_interval: float = 2.0,
                 election: AssistantElection | None = None) -> None:
        self._client = client
        # Non-idempotent creates are not retried blindly (a lost answer would create a second run or
        # message); the handler's retry looks the object up first (runs.list / messages.list).
        self._once = client.with_options(max_retries=0)
        self._model = model
        self._runs = client.beta.threads.runs
        self._poll_max = poll_max_interval
        self._assistant_id: str | None = None
        self._assistant_lock = threading.Lock()
        # across processes: without it, two runners starting on an empty account may each create one
        self._election = election

    @property
    def default_model(self) -> str:
        return self._model

    def close(self) -> None:
        self._client.close()

    def assistant_id(self) -> str:
        """Get or create the seed's assistant by name, once per process; tools kept up to date."""
        with self._assistant_lock:
            if self._assistant_id is None:
                self._assistant_id = self._ensure_assistant()
            return self._assistant_id

    def _ensure_assistant(self) -> str:
        wanted = assistants_tools()
        assistant = self._agreed_assistant()
        if assistant is None:
            assistant = next((a for a in self._client.beta.assistants.list() if a.name == ASSISTANT_NAME), None)
            created = assistant is None
            if assistant is None:
                assistant = self._client.beta.assistants.create(
                    name=ASSISTANT_NAME, instructions=ASSISTANT_INSTRUCTIONS, tools=wanted, model=self._model)
                log.info("assistant created", extra={"assistant_id": assistant.id})
            if self._election is not None:
                agreed = self._election.claim(ASSISTANT_NAME, assistant.id)
                if agreed != assistant.id:
                    if created:  # another process's assistant won: ours would be a stray duplicate
                        self._delete_quietly(assistant.id)
                    assistant = self._client.beta.assistants.retrieve(agreed)
        current = [t.model_dump(exclude_none=True) for t in assistant.tools or ()]
        if current != wanted:
            self._client.beta.assistants.update(assistant.id, tools=wanted)
            log.info("assistant tools updated", extra={"assistant_id": assistant.id})
        return assistant.id

    def _agreed_assistant(self) -> Any | None:
        """The assistant the runner processes agreed on, if any and if it still exists."""
        election = self._election
        agreed = election.get(ASSISTANT_NAME) if election is not None else None
        if election is None or agreed is None:
            return None
        try:
            return self._client.beta.assistants.retrieve(agreed)
        except openai.NotFoundError:
            log.warning("the agreed assistant no longer exists; agreeing on another", extra={"assistant_id": agreed})
            election.forget(ASSISTANT_NAME, agreed)
            return None

    def _delete_quietly(self, assistant_id: str) -> None:
        try:
            self._client.beta.assistants.delete(assistant_id)
            log.info("duplicate assistant deleted; using the one agreed on", extra={"assistant_id": assistant_id})
        except openai.APIError as exc:  # harmless: a stray assistant nobody uses
            log.warning("could not delete a duplicate assistant", extra={"assistant_id": assistant_id,
                                                                          "error": repr(exc)})

    def create_thread(self) -> str:
        return self._client.beta.threads.create().id

    def has_user_message(self, thread_id: str) -> bool:
        page = self._client.beta.threads.messages.list(thread_id, limit=1, order="asc")
        return any(m.role == "user" for m in page.data)

    def add_message(self, thread_id: str, prompt: str) -> None:
        self._once.beta.threads.messages.create(thread_id, role="user", content=prompt)

    def find_run(self, thread_id: str) -> RunState | None:
        """The thread's run, if one was created (a crash may have lost its id): never start a second."""
        runs = list(self._runs.list(thread_id, order="asc", limit=20))
        return _state(runs[0]) if runs else None

    def start_run(self, thread_id: str, *, instructions: str | None, model: str | None,
                  metadata: dict[str, str], on_created: Callable[[RunState], None],
                  deadline: Deadline | None = None) -> RunState:
        options: dict[str, Any] = {"metadata": metadata}
        if instructions:
            options["instructions"] = instructions
        if model:
            options["model"] = model
        assistant_id = self.assistant_id()
        stream = self._once.beta.threads.runs.create(thread_id, assistant_id=assistant_id, stream=True, **options)
        state = self._follow(stream, on_created, deadline)
        if state is None:
            raise StreamBroken("the run stream carried no run object")
        return state

    def submit(self, thread_id: str, run_id: str, outputs: Sequence[dict[str, str]],
               deadline: Deadline | None = None) -> RunState:
        try:
            stream = self._runs.submit_tool_outputs(
                run_id, thread_id=thread_id, tool_outputs=list(outputs), stream=True)
        except (openai.BadRequestError, openai.ConflictError) as exc:
            # e.g. a retried submit whose first attempt was applied: the run moved on.
            log.warning("submit refused; re-reading the run", extra={"run_id": run_id, "error": str(exc)})
            return self.retrieve(thread_id, run_id)
        state = self._follow(stream, lambda _state: None, deadline, run_id)
        return state or RunState(id=run_id, status=None)

    def retrieve(self, thread_id: str, run_id: str) -> RunState:
        return _state(self._runs.retrieve(run_id, thread_id=thread_id))

    def wait(self, thread_id: str, run_id: str, deadline: Deadline | None = None) -> RunState:
        """Poll until the run leaves queued/in_progress; backoff, or the server's openai-poll-after-ms.
        Still waiting at ``deadline``: TurnTimedOut."""
        attempt = 0
        while True:
            raw = self._runs.with_raw_response.retrieve(run_id, thread_id=thread_id)
            state = _state(raw.parse())
            if state.status is not None and state.status not in WAITING:
                return state
            left = _seconds_left(deadline)
            if left <= 0:
                raise TurnTimedOut(run_id)
            time.sleep(min(_poll_interval(raw.headers.get("openai-poll-after-ms"), attempt, self._poll_max), left))
            attempt += 1

    def cancel(self, thread_id: str, run_id: str) -> None:
        self._runs.cancel(run_id, thread_id=thread_id)

    def final_message(self, thread_id: str, run_id: str) -> str:
        texts = []
        for message in self._client.beta.threads.messages.list(thread_id, order="asc"):
            if message.role != "assistant" or (message.run_id and message.run_id != run_id):
                continue
            texts.extend(part.text.value for part in message.content or () if part.type == "text")
        return "\n".join(texts)

    def _follow(self, stream: Any, on_created: Callable[[RunState], None], deadline: Deadline | None,
                run_id: str | None = None) -> RunState | None:
        """Read a run's event stream to its end; the last run object seen is the run's state.
        Still open at ``deadline``: the stream is aborted and TurnTimedOut raised."""
        state: RunState | None = None
        bound = _StreamDeadline(stream, deadline)
        try:
            with stream, bound:  # disarmed before the stream closes
                for event in stream:
                    name = getattr(event, "event", None) or ""
                    if not name.startswith("thread.run.") or name.startswith("thread.run.step"):
                        continue
                    first = state is None
                    state = _state(event.data)
                    if first:
                        on_created(state)
        except (openai.APIError, json.JSONDecodeError) as exc:  # includes connection errors mid-stream
            if bound.fired:
                raise TurnTimedOut(state.id if state else run_id) from None
            log.warning("run stream broke; polling instead", extra={"error": repr(exc)})
            if state is None:
                raise StreamBroken(repr(exc)) from exc
            return RunState(id=state.id, status=None, assistant_id=state.assistant_id, model=state.model)
        if bound.fired and (state is None or state.status in WAITING):  # aborted, and read as a clean end
            raise TurnTimedOut(state.id if state else run_id)
        return state


@dataclass(frozen=True)
class TurnState:
    """One Responses turn: its function calls, or its closing message."""

    id: str
    status: str | None
    model: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    message: str = ""
    error_message: str | None = None
    error_code: str | None = None


def turn_options(*, prompt: str | None, previous_id: str | None, outputs: Sequence[dict[str, str]],
                 metadata: dict[str, str]) -> dict[str, Any]:
    """The body of a Responses turn: the prompt first, then the previous turn's call outputs."""
    if previous_id:
        calls = [{"type": "function_call_output", "call_id": o["tool_call_id"], "output": o["output"]}
                 for o in outputs]
        return {"metadata": metadata, "previous_response_id": previous_id, "input": calls}
    return {"metadata": metadata, "input": prompt or ""}


def _turn(response: Any) -> TurnState:
    items = response.output or ()
    calls = tuple(ToolCall(i.call_id, i.name, i.arguments) for i in items if i.type == "function_call")
    texts = [p.text for i in items if i.type == "message" for p in i.content or () if p.type == "output_text"]
    error, incomplete = response.error, response.incomplete_details
    message = error.message if error else (incomplete.reason if incomplete else None)
    return TurnState(id=response.id, status=response.status, model=response.model, tool_calls=calls,
                     message="".join(texts), error_message=message, error_code=getattr(error, "code", None))


class ResponsesModel:
    """The Responses backend: one response per model turn, chained with previous_response_id."""

    backend = "responses"

    def __init__(self, client: OpenAI, model: str, *, poll_max_interval: float = 2.0,
                 waiter: "ResponseWaiter | None" = None, safety_poll: float = 60.0) -> None:
        self._client = client
        self._once = client.with_options(max_retries=0)  # see AssistantsModel
        self._model = model
        self._poll_max = poll_max_interval
        # background mode: create with background=True, then wait for the webhook's broker event
        self._waiter = waiter
        self._safety_poll = safety_poll

    @property
    def background(self) -> bool:
        return self._waiter is not None

    @property
    def default_model(self) -> str:
        return self._model

    def close(self) -> None:
        self._client.close()

    def create(self, *, prompt: str | None, instructions: str, previous_id: str | None,
               outputs: Sequence[dict[str, str]], model: str | None, metadata: dict[str, str],
               on_created: Callable[[TurnState], None], deadline: Deadline | None = None) -> TurnState:
        """Start a turn (the prompt, or the outputs of the previous turn's calls) and stream it to its end.
        Streamed turn still open at ``deadline``: the stream is aborted and TurnTimedOut raised."""
        options = turn_options(prompt=prompt, previous_id=previous_id, outputs=outputs, metadata=metadata)
        if self._waiter is not None:
            created = _turn(self._once.responses.create(model=model or self._model, instructions=instructions,
                                                        tools=responses_tools(), background=True, **options))
            on_created(created)  # recorded durably before anything waits on it
            return created
        stream = self._once.responses.create(model=model or self._model, instructions=instructions,
                                             tools=responses_tools(), stream=True, **options)
        state: TurnState | None = None
        bound = _StreamDeadline(stream, deadline)
        try:
            with stream, bound:  # disarmed before the stream closes
                for event in stream:
                    if event.type == "response.created":
                        state = _turn(event.response)
                        on_created(state)
                    elif event.type in ("response.completed", "response.failed", "response.incomplete",
                                        "response.cancelled"):
                        state = _turn(event.response)
        except (openai.APIError, json.JSONDecodeError) as exc:
            if bound.fired:
                raise TurnTimedOut(state.id if state else None) from None
            log.warning("response stream broke; polling instead", extra={"error": repr(exc)})
            if state is None:
                raise StreamBroken(repr(exc)) from exc
            return TurnState(id=state.id, status=None)
        if bound.fired and (state is None or state.status in TURN_UNFINISHED):
            raise TurnTimedOut(state.id if state else None)
        if state is None:
            raise StreamBroken("the response stream carried no response object")
        return state

    def retrieve(self, response_id: str) -> TurnState:
        return _turn(self._client.responses.retrieve(response_id))

    def wait(self, response_id: str, deadline: Deadline | None = None) -> TurnState:
        """Poll until the turn leaves queued/in_progress (no SDK poll helper exists for Responses).

        Background mode: wait for the webhook's event instead, then retrieve once; without one
        for ``safety_poll`` seconds (a lost webhook), retrieve anyway and wait again.
        Still unfinished at ``deadline``: TurnTimedOut.
        """
        if self._waiter is not None:
            while True:
                left = _seconds_left(deadline)
                notified = self._waiter.wait(response_id, max(min(self._safety_poll, left), 0.0))
                state = self.retrieve(response_id)
                if state.status not in TURN_UNFINISHED:
                    return state
                if _seconds_left(deadline) <= 0:
                    raise TurnTimedOut(response_id)
                log.info("response not finished yet; waiting on", extra={"response_id": response_id,
                                                                         "after_webhook": notified})
        attempt = 0
        while True:
            state = self.retrieve(response_id)
            if state.status not in TURN_UNFINISHED:
                return state
            left = _seconds_left(deadline)
            if left <= 0:
                raise TurnTimedOut(response_id)
            time.sleep(min(_poll_interval(None, attempt, self._poll_max), left))
            attempt += 1

    def cancel(self, response_id: str) -> None:
        """Cancel a background turn. The API cancels only background responses (a streamed one answers
        400), so a streamed turn is not asked: closing its stream is what abandons it."""
        if self.background:
            self._client.responses.cancel(response_id)


def _poll_interval(header: str | None, attempt: int, ceiling: float) -> float:
    try:
        if header is not None:
            return max(int(float(header)), 0) / 1000.0
    except ValueError:
        pass
    return min(0.1 * 2 ** attempt, ceiling)


def served_models(client: OpenAI) -> list[tuple[str, str | None]] | None:
    """GET /v1/models as (id, shutdown_date) pairs (services/runner/platform.py judges them);
    None when the key is refused (the credentials hold deals with that, per generation)."""
    try:
        return [(model.id, (model.model_extra or {}).get("shutdown_date")) for model in client.models.list()]
    except (openai.AuthenticationError, openai.PermissionDeniedError):
        return None
    except openai.OpenAIError as exc:
        raise ProbeFailed(f"GET /v1/models: {exc}") from None


def assistants_status(client: OpenAI) -> int | None:
    """The HTTP status of a minimal Assistants request when it is refused with 404/410, else None."""
    try:
        client.beta.assistants.list(limit=1)
    except openai.APIStatusError as exc:
        if exc.status_code in (404, 410):
            return exc.status_code
        if exc.status_code in (401, 403):
            return None
        raise ProbeFailed(f"GET /v1/assistants: {exc}") from None
    except openai.OpenAIError as exc:
        raise ProbeFailed(f"GET /v1/assistants: {exc}") from None
    return None
