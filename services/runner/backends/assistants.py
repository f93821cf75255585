"""The Assistants backend: the seed's own flow (assistant, thread, message, run, tool outputs).

OpenAI shut the Assistants API down on 2026-08-26 (docs/runner.md); this backend serves the
emulator and Assistants-compatible servers. Runs are streamed (``stream=True`` on create and on
submit_tool_outputs); each tool call is handed over as soon as the run-step deltas show it is
complete (the next call's head arrives, the step completes, or the run requires action). When a
stream is unavailable or breaks, the run is polled with backoff, honouring ``openai-poll-after-ms``.
Streamed runs are read as plain JSON through the SDK's client (``RunEvents``), like Responses streams.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping, Protocol, Sequence
from urllib.parse import quote

import openai
from openai import OpenAI, Stream

from services.common.tools import assistants_tools
from services.runner import domain
from services.runner.backends import Session, StreamBroken, TurnTimedOut
from services.runner.backends.sdk import (JSON_STREAM_ERRORS, SdkBackend, StreamDeadline, poll_interval, seconds_left,
                                          translated)
from services.runner.backends.sse import SkippingStream
from services.runner.domain import ASSISTANT_INSTRUCTIONS, ASSISTANT_NAME, WAITING, Deadline, ToolCall, Turn

log = logging.getLogger("services.runner.backends")
OnCall = Callable[[ToolCall, int], None]


def _turn(run: Mapping[str, Any], thread_id: str | None = None) -> Turn:
    """A run as a turn from its JSON (a stream's event data)."""
    action = (run.get("required_action") or {}).get("submit_tool_outputs") or {}
    calls = tuple(ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
                  for c in action.get("tool_calls") or ())
    error = run.get("last_error") or {}
    return Turn(id=run["id"], status=run.get("status"), model=run.get("model"), tool_calls=calls,
                error_message=error.get("message"), error_code=error.get("code"),
                assistant_id=run.get("assistant_id"), thread_id=thread_id or run.get("thread_id"))


def _typed_turn(run: Any, thread_id: str | None = None) -> Turn:
    """A run as a turn from the SDK's typed ``Run`` (the polled path and every unstreamed call)."""
    calls: tuple[ToolCall, ...] = ()
    action = getattr(run, "required_action", None)
    if action is not None and action.submit_tool_outputs is not None:
        calls = tuple(ToolCall(c.id, c.function.name, c.function.arguments)
                      for c in action.submit_tool_outputs.tool_calls or ())
    error = getattr(run, "last_error", None)
    return Turn(id=run.id, status=run.status, model=run.model, tool_calls=calls,
                error_message=getattr(error, "message", None), error_code=getattr(error, "code", None),
                assistant_id=run.assistant_id, thread_id=thread_id or getattr(run, "thread_id", None))


class RunEvents(SkippingStream):
    """A run's stream as plain JSON (``{"event": ..., "data": ...}``, as the SDK synthesizes them), not
    the SDK's typed events (building those was ~15% of a run's SDK time), and without the events
    ``_follow`` ignores (messages, the steps' creation): the seed's 93 events per generation, 75 kept.
    Every ``thread.run.*`` event is kept: the first one seen announces the run."""

    SKIP = frozenset({
        "thread.message.created", "thread.message.in_progress", "thread.message.delta", "thread.message.completed",
        "thread.message.incomplete", "thread.run.step.created", "thread.run.step.in_progress",
    })


# What the SDK's runs.create and submit_tool_outputs send with a stream, minus their TypedDict
# transform (a no-op for these bodies, and a walk of every tool output's annotations per request).
_STREAMED: Any = {"headers": {"OpenAI-Beta": "assistants=v2"}, "synthesize_event_and_data": True,
                  "security": {"bearer_auth": True}}


def _streamed(client: OpenAI, path: str, body: dict[str, Any]) -> Stream[object]:
    return client.post(path, body={**body, "stream": True}, options=_STREAMED, cast_to=object, stream=True,
                       stream_cls=RunEvents)


class StepCalls:
    """Tool calls assembled from run-step deltas; a call is complete once the next one starts or the
    step ends. ``on_call`` gets each complete call once, with its index in the step."""

    def __init__(self, on_call: OnCall | None) -> None:
        self._on_call = on_call
        self._open: dict[int, list[str]] = {}  # index -> [id, name, arguments so far]

    def delta(self, data: Mapping[str, Any]) -> None:
        details = (data.get("delta") or {}).get("step_details") or {}
        for part in details.get("tool_calls") or ():
            if part.get("type") != "function":
                continue
            index, function = part["index"], part.get("function") or {}
            if part.get("id"):  # a call's head: every call before it is complete
                self._complete(below=index)
                self._open[index] = [part["id"], function.get("name") or "", ""]
            elif index in self._open:
                self._open[index][2] += function.get("arguments") or ""

    def end(self) -> None:
        self._complete(below=None)

    def _complete(self, below: int | None) -> None:
        for index in sorted(self._open):
            if below is not None and index >= below:
                break
            call_id, name, arguments = self._open.pop(index)
            if self._on_call is not None:
                self._on_call(ToolCall(call_id, name, arguments), index)


class AssistantElection(Protocol):
    """Where runner processes agree on one assistant (services.runner.mongo.AssistantRegistry)."""

    def get(self, name: str) -> str | None: ...
    def claim(self, name: str, assistant_id: str) -> str: ...
    def forget(self, name: str, assistant_id: str) -> None: ...


class AssistantsModel(SdkBackend):
    backend = "assistants"

    def __init__(self, client: OpenAI, model: str, *, poll_max_interval: float = 2.0,
                 election: AssistantElection | None = None, streaming: bool = True) -> None:
        super().__init__(client, model)  # a lost create is found again by runs.list / messages.list
        self._runs = client.beta.threads.runs
        self._poll_max = poll_max_interval
        self._assistant_id: str | None = None
        self._assistant_lock = threading.Lock()
        # across processes: without it, two runners starting on an empty account may each create one
        self._election = election
        self.streams = streaming  # False: runs created and submitted without a stream, then polled

    # -- the Backend protocol -----------------------------------------------------------

    def decide(self, turn: Turn) -> domain.Action:
        return domain.next_action(turn.status, turn.tool_calls, turn.error_message, turn.error_code)

    @translated
    def open(self, session: Session) -> Turn:
        """The generation's run: the recorded one, one found on its thread (a crash may have lost its
        id; never start a second), or a new one. Thread and message are recorded as they are made."""
        request, record = session.request, session.record
        thread_id = record.get("thread_id")
        if not thread_id:
            assistant_id = self.assistant_id()
            thread_id = self.create_thread()
            session.checkpoint(thread_id=thread_id, assistant_id=assistant_id, status="thread_created")
        if not record.get("message_added"):
            if not self.has_user_message(thread_id):
                self.add_message(thread_id, request.prompt)
            session.checkpoint(message_added=True)
        run_id = record.get("run_id")
        found = self.retrieve(thread_id, run_id) if run_id else self.find_run(thread_id)
        if found is not None:
            log.info("resuming the generation's run", extra={"generation_id": request.generation_id,
                                                             "run_id": found.id, "status": found.status,
                                                             "recorded": bool(run_id)})
            self._started(session, found)
            return found

        def on_created(turn: Turn) -> None:
            self._started(session, turn)

        return self.start_run(thread_id, instructions=request.instructions, model=request.model,
                              metadata={"generation_id": request.generation_id}, on_created=on_created,
                              deadline=session.deadline, on_call=session.call_complete)

    @staticmethod
    def _started(session: Session, turn: Turn) -> None:
        session.checkpoint(run_id=turn.id, status="running", turn_started_at=session.deadline.started_at)
        ids = {"thread_id": turn.thread_id or session.record.get("thread_id") or "", "run_id": turn.id}
        if turn.assistant_id:
            ids["assistant_id"] = turn.assistant_id
        session.started(turn.model, ids)

    @translated
    def answer(self, session: Session, turn: Turn, outputs: Sequence[dict[str, str]]) -> Turn:
        return self.submit(self._thread(session, turn), turn.id, outputs, session.deadline,
                           on_call=session.call_complete)

    @translated
    def wait(self, session: Session, turn: Turn) -> Turn:
        return self.poll(self._thread(session, turn), turn.id, session.deadline)

    @translated
    def cancel(self, record: Mapping[str, Any]) -> None:
        self._runs.cancel(record["run_id"], thread_id=record["thread_id"])

    @translated
    def final_message(self, session: Session, turn: Turn) -> str:
        thread_id, texts = self._thread(session, turn), list[str]()
        for message in self._client.beta.threads.messages.list(thread_id, order="asc"):
            if message.role != "assistant" or (message.run_id and message.run_id != turn.id):
                continue
            texts.extend(part.text.value for part in message.content or () if part.type == "text")
        return "\n".join(texts)

    @staticmethod
    def _thread(session: Session, turn: Turn) -> str:
        thread_id = turn.thread_id or session.record.get("thread_id")
        if not thread_id:  # recorded before any run exists (open): never missing here
            raise KeyError("thread_id")
        return thread_id

    # -- the API, call by call -------------------------------------------------------------

    def assistant_id(self) -> str:
        """Get or create the seed's assistant by name, once per process; tools kept up to date."""
        with self._assistant_lock:
            if self._assistant_id is None:
                self._assistant_id = self._ensure_assistant()
            return self._assistant_id

    def _ensure_assistant(self) -> str:
        wanted: Any = assistants_tools()  # the SDK's TypedDicts, as plain dicts
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

    def find_run(self, thread_id: str) -> Turn | None:
        """The thread's run, if one was created (a crash may have lost its id): never start a second."""
        runs = list(self._runs.list(thread_id, order="asc", limit=20))
        return _typed_turn(runs[0], thread_id) if runs else None

    def start_run(self, thread_id: str, *, instructions: str | None, model: str | None,
                  metadata: dict[str, str], on_created: Callable[[Turn], None],
                  deadline: Deadline | None = None, on_call: OnCall | None = None) -> Turn:
        options: dict[str, Any] = {"metadata": metadata}
        if instructions:
            options["instructions"] = instructions
        if model:
            options["model"] = model
        assistant_id = self.assistant_id()
        if not self.streams:  # the polls in ``wait`` honour the deadline
            created = _typed_turn(self._once.beta.threads.runs.create(thread_id, assistant_id=assistant_id,
                                                                      **options), thread_id)
            on_created(created)
            return created
        stream = _streamed(self._once, f"/threads/{quote(thread_id, safe='')}/runs",
                           {"assistant_id": assistant_id, **options})
        state = self._follow(stream, thread_id, on_created, deadline, on_call=on_call)
        if state is None:
            raise StreamBroken("the run stream carried no run object")
        return state

    def submit(self, thread_id: str, run_id: str, outputs: Sequence[dict[str, str]],
               deadline: Deadline | None = None, on_call: OnCall | None = None) -> Turn:
        given: Any = list(outputs)  # the SDK's ToolOutput TypedDicts, as plain dicts
        try:
            if not self.streams:
                run = self._runs.submit_tool_outputs(run_id, thread_id=thread_id, tool_outputs=given)
                return _typed_turn(run, thread_id)
            stream = _streamed(self._client, f"/threads/{quote(thread_id, safe='')}/runs/{quote(run_id, safe='')}"
                               "/submit_tool_outputs", {"tool_outputs": given})
        except (openai.BadRequestError, openai.ConflictError) as exc:
            # e.g. a retried submit whose first attempt was applied: the run moved on.
            log.warning("submit refused; re-reading the run", extra={"run_id": run_id, "error": str(exc)})
            return self.retrieve(thread_id, run_id)
        state = self._follow(stream, thread_id, lambda _state: None, deadline, run_id, on_call)
        return state or Turn(id=run_id, status=None, thread_id=thread_id)

    def retrieve(self, thread_id: str, run_id: str) -> Turn:
        return _typed_turn(self._runs.retrieve(run_id, thread_id=thread_id), thread_id)

    def poll(self, thread_id: str, run_id: str, deadline: Deadline | None = None) -> Turn:
        """Poll until the run leaves queued/in_progress; backoff, or the server's openai-poll-after-ms.
        Still waiting at ``deadline``: TurnTimedOut."""
        attempt = 0
        while True:
            raw = self._runs.with_raw_response.retrieve(run_id, thread_id=thread_id)
            state = _typed_turn(raw.parse(), thread_id)
            if state.status is not None and state.status not in WAITING:
                return state
            left = seconds_left(deadline)
            if left <= 0:
                raise TurnTimedOut(run_id)
            time.sleep(min(poll_interval(raw.headers.get("openai-poll-after-ms"), attempt, self._poll_max), left))
            attempt += 1

    def _follow(self, stream: Any, thread_id: str, on_created: Callable[[Turn], None], deadline: Deadline | None,
                run_id: str | None = None, on_call: OnCall | None = None) -> Turn | None:
        """Read a run's event stream to its end; the last run object seen is the run's state.
        Still open at ``deadline``: the stream is aborted and TurnTimedOut raised."""
        state: Turn | None = None
        calls = StepCalls(on_call)
        bound = StreamDeadline(stream.response, deadline)
        try:
            with stream, bound:  # disarmed before the stream closes
                for event in stream:
                    name, data = event.get("event") or "", event.get("data")
                    if not isinstance(data, dict):
                        continue
                    if name == "thread.run.step.delta":
                        calls.delta(data)
                    elif name == "thread.run.step.completed" or name == "thread.run.requires_action":
                        calls.end()
                    if not name.startswith("thread.run.") or name.startswith("thread.run.step"):
                        continue
                    first = state is None
                    state = _turn(data, thread_id)
                    if first:
                        on_created(state)
        except JSON_STREAM_ERRORS as exc:  # includes connection errors mid-stream
            if bound.fired:
                raise TurnTimedOut(state.id if state else run_id) from None
            log.warning("run stream broke; polling instead", extra={"error": repr(exc)})
            if state is None:
                raise StreamBroken(repr(exc)) from exc
            return Turn(id=state.id, status=None, assistant_id=state.assistant_id, model=state.model,
                        thread_id=thread_id)
        if bound.fired and (state is None or state.status in WAITING):  # aborted, and read as a clean end
            raise TurnTimedOut(state.id if state else run_id)
        return state
