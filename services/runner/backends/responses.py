"""The Responses backend (the default): one response per model turn, chained with previous_response_id.

Three ways to learn a turn's end: a stream (the default; each function call is handed over at its
``response.output_item.done``, or its ``function_call_arguments.done`` joined to the item's
``output_item.added``), background responses woken by OpenAI's webhooks (a ``ResponseWaiter``), or
background responses polled. Responses are read as plain JSON, not as the SDK's typed models:
building those for every stream event cost ~10x the stream's own time (BENCHMARKS.md).
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, cast

from openai import OpenAI

from services.common.tools import responses_tools
from services.runner import domain
from services.runner.backends import Session, StreamBroken, TurnTimedOut
from services.runner.backends.sdk import (JSON_STREAM_ERRORS, SdkBackend, StreamDeadline, poll_interval, seconds_left,
                                          translated)
from services.runner.backends.sse import SkippingStream
from services.runner.domain import Deadline, ToolCall, Turn

if TYPE_CHECKING:
    from services.runner.model_events import ResponseWaiter

log = logging.getLogger("services.runner.backends")
OnCall = Callable[[ToolCall, int], None]
# A turn the model has not finished (None: a broken stream left its status unknown).
TURN_UNFINISHED = (None, "queued", "in_progress")
_ENDINGS = ("response.completed", "response.failed", "response.incomplete", "response.cancelled")


class TurnEvents(SkippingStream):
    """A response's stream without the events ``_follow`` ignores: the deltas (a call is taken
    whole at its ``.done`` event, text at the end) and lifecycle events that change nothing it reads.
    Those are most of a turn's events: the seed's 4 turns send 228 events, 97 of them kept."""

    SKIP = frozenset({
        "response.in_progress", "response.queued", "response.function_call_arguments.delta",
        "response.output_text.delta", "response.output_text.done", "response.content_part.added",
        "response.content_part.done", "response.refusal.delta", "response.refusal.done",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_part.added",
        "response.reasoning_summary_part.done", "response.reasoning_summary_text.done",
        "response.reasoning_text.delta", "response.reasoning_text.done",
    })


def turn_options(*, prompt: str | None, previous_id: str | None, outputs: Sequence[dict[str, str]],
                 metadata: dict[str, str]) -> dict[str, Any]:
    """The body of a Responses turn: the prompt first, then the previous turn's call outputs."""
    if previous_id:
        calls = [{"type": "function_call_output", "call_id": o["tool_call_id"], "output": o["output"]}
                 for o in outputs]
        return {"metadata": metadata, "previous_response_id": previous_id, "input": calls}
    return {"metadata": metadata, "input": prompt or ""}


def _turn(response: Mapping[str, Any]) -> Turn:
    items = response.get("output") or ()
    calls = tuple(ToolCall(i["call_id"], i["name"], i["arguments"]) for i in items if i.get("type") == "function_call")
    texts = [p.get("text", "") for i in items if i.get("type") == "message"
             for p in i.get("content") or () if p.get("type") == "output_text"]
    error, incomplete = response.get("error"), response.get("incomplete_details")
    message = error.get("message") if error else (incomplete.get("reason") if incomplete else None)
    return Turn(id=response["id"], status=response.get("status"), model=response.get("model"), tool_calls=calls,
                message="".join(texts), error_message=message, error_code=(error or {}).get("code"))


class StreamedCalls:
    """Function calls of one streamed response, each handed to ``on_call`` once, when complete."""

    def __init__(self, on_call: OnCall | None) -> None:
        self._on_call = on_call
        self._items: dict[str, dict[str, Any]] = {}  # item id -> the function_call item as added
        self._done: set[str] = set()

    def event(self, event: Mapping[str, Any]) -> None:
        kind, item = event.get("type"), event.get("item") or {}
        if kind == "response.output_item.added" and item.get("type") == "function_call":
            self._items[item.get("id", "")] = item
        elif kind == "response.output_item.done" and item.get("type") == "function_call":
            self._complete(item.get("call_id"), item.get("name"), item.get("arguments"))
        elif kind == "response.function_call_arguments.done":
            added = self._items.get(event.get("item_id", ""), {})
            self._complete(added.get("call_id"), event.get("name") or added.get("name"), event.get("arguments"))

    def _complete(self, call_id: Any, name: Any, arguments: Any) -> None:
        if not isinstance(call_id, str) or call_id in self._done:
            return
        self._done.add(call_id)
        if self._on_call is not None:  # its position: its place among the turn's function calls
            self._on_call(ToolCall(call_id, str(name or ""), str(arguments or "")), len(self._done) - 1)


class ResponsesModel(SdkBackend):
    backend = "responses"

    def __init__(self, client: OpenAI, model: str, *, poll_max_interval: float = 2.0,
                 waiter: "ResponseWaiter | None" = None, background: bool | None = None,
                 safety_poll: float = 60.0) -> None:
        super().__init__(client, model)  # a retry resumes from the response id recorded at response.created
        self._poll_max = poll_max_interval
        # background mode: create with background=True, then wait for the webhook's event (a waiter) or poll
        self._waiter = waiter
        self.background = waiter is not None if background is None else background
        self.streams = not self.background
        self._safety_poll = safety_poll

    # -- the Backend protocol -----------------------------------------------------------

    def decide(self, turn: Turn) -> domain.Action:
        return domain.next_response_action(turn.status, turn.tool_calls, turn.error_message, turn.error_code)

    @translated
    def open(self, session: Session) -> Turn:
        record = session.record
        if record.get("response_id"):
            turn = self.retrieve(record["response_id"])
            log.info("resuming the generation's responses", extra={
                "generation_id": session.request.generation_id, "response_id": turn.id})
            session.started(turn.model, {"response_id": record.get("first_response_id") or turn.id})
            return turn
        return self._create(session, None, ())

    @translated
    def answer(self, session: Session, turn: Turn, outputs: Sequence[dict[str, str]]) -> Turn:
        return self._create(session, turn.id, outputs)

    @translated
    def wait(self, session: Session, turn: Turn) -> Turn:
        return self.poll(turn.id, session.deadline)

    @translated
    def cancel(self, record: Mapping[str, Any]) -> None:
        """Cancel a background turn. The API cancels only background responses (a streamed one answers
        400), so a streamed turn is not asked: closing its stream is what abandons it."""
        if self.background:
            self._client.responses.cancel(record["response_id"])

    def final_message(self, session: Session, turn: Turn) -> str:
        return turn.message

    def _create(self, session: Session, previous_id: str | None, outputs: Sequence[dict[str, str]]) -> Turn:
        request, first = session.request, previous_id is None

        def on_created(turn: Turn) -> None:
            started_at = session.deadline.started_at
            if first:
                session.checkpoint(first_response_id=turn.id, response_id=turn.id, status="running",
                                   turn_started_at=started_at)
                session.started(turn.model, {"response_id": turn.id})
            else:
                session.checkpoint(response_id=turn.id, turn_started_at=started_at)

        instructions = domain.ASSISTANT_INSTRUCTIONS + (f"\n\n{request.instructions}" if request.instructions else "")
        return self.create(prompt=request.prompt, instructions=instructions, previous_id=previous_id,
                           outputs=outputs, model=request.model, metadata={"generation_id": request.generation_id},
                           on_created=on_created, deadline=session.deadline, on_call=session.call_complete)

    # -- the API, call by call -------------------------------------------------------------

    def create(self, *, prompt: str | None, instructions: str, previous_id: str | None,
               outputs: Sequence[dict[str, str]], model: str | None, metadata: dict[str, str],
               on_created: Callable[[Turn], None], deadline: Deadline | None = None,
               on_call: OnCall | None = None) -> Turn:
        """Start a turn (the prompt, or the outputs of the previous turn's calls) and stream it to its end.
        Streamed turn still open at ``deadline``: the stream is aborted and TurnTimedOut raised."""
        body = {"model": model or self._model, "instructions": instructions, "tools": responses_tools(),
                **turn_options(prompt=prompt, previous_id=previous_id, outputs=outputs, metadata=metadata)}
        if self.background:
            created = _turn(cast(dict, self._once.post("/responses", body={**body, "background": True},
                                                       cast_to=object)))
            on_created(created)  # recorded durably before anything waits on it
            return created
        stream = self._once.post("/responses", body={**body, "stream": True}, cast_to=object,
                                 stream=True, stream_cls=TurnEvents)
        return self._follow(stream, on_created, deadline, on_call)

    def _follow(self, stream: Any, on_created: Callable[[Turn], None], deadline: Deadline | None,
                on_call: OnCall | None) -> Turn:
        state: Turn | None = None
        calls = StreamedCalls(on_call)
        bound = StreamDeadline(stream.response, deadline)
        try:
            with stream, bound:  # disarmed before the stream closes
                for event in stream:
                    kind = event.get("type") if isinstance(event, dict) else None
                    if kind == "response.created":
                        state = _turn(event["response"])
                        on_created(state)
                    elif kind in _ENDINGS:
                        state = _turn(event["response"])
                    elif state is not None and isinstance(event, dict):
                        calls.event(event)
        except JSON_STREAM_ERRORS as exc:
            if bound.fired:
                raise TurnTimedOut(state.id if state else None) from None
            log.warning("response stream broke; polling instead", extra={"error": repr(exc)})
            if state is None:
                raise StreamBroken(repr(exc)) from exc
            return Turn(id=state.id, status=None)
        if bound.fired and (state is None or state.status in TURN_UNFINISHED):
            raise TurnTimedOut(state.id if state else None)
        if state is None:
            raise StreamBroken("the response stream carried no response object")
        return state

    def retrieve(self, response_id: str) -> Turn:
        return _turn(cast(dict, self._client.get(f"/responses/{response_id}", cast_to=object)))

    def poll(self, response_id: str, deadline: Deadline | None = None) -> Turn:
        """Poll until the turn leaves queued/in_progress (no SDK poll helper exists for Responses).

        Background mode with a waiter: wait for the webhook's event instead, then retrieve once;
        without one for ``safety_poll`` seconds (a lost webhook), retrieve anyway and wait again.
        Still unfinished at ``deadline``: TurnTimedOut.
        """
        attempt = 0
        while True:
            if self._waiter is not None:
                left = seconds_left(deadline)
                self._waiter.wait(response_id, max(min(self._safety_poll, left), 0.0))
            state = self.retrieve(response_id)
            if state.status not in TURN_UNFINISHED:
                return state
            left = seconds_left(deadline)
            if left <= 0:
                raise TurnTimedOut(response_id)
            if self._waiter is not None:
                log.info("response not finished yet; waiting on", extra={"response_id": response_id})
            else:
                time.sleep(min(poll_interval(None, attempt, self._poll_max), left))
            attempt += 1
