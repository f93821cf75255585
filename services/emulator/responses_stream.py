"""Responses streams (SSE): the order ``responses.stream()`` checks, a sequence_number on each (docs/emulator.md)."""
from __future__ import annotations

import copy
import json
import time
from typing import Any, Callable, Iterator

from flask import Response

from services.emulator import responses_model as model
from services.emulator.assistants_stream import KEEP_ALIVE
from services.emulator.state import State

_CHUNK = 32


def _lifecycle(kind: str, response: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"type": kind, "response": {**copy.deepcopy(response), **changes}}


def _call_events(index: int, item: dict[str, Any], deltas: list[tuple[float, str]]) -> Iterator[
        tuple[float, dict[str, Any]]]:
    """A function_call item's events, each with the offset (seconds after the turn) at which it is sent."""
    yield 0.0, {"type": "response.output_item.added", "output_index": index,
                  "item": {**item, "arguments": "", "status": "in_progress"}}
    for at, text in deltas:
        yield at, {"type": "response.function_call_arguments.delta", "item_id": item["id"], "output_index": index,
                   "delta": text}
    end = deltas[-1][0] if deltas else 0.0
    yield end, {"type": "response.function_call_arguments.done", "item_id": item["id"], "output_index": index,
                "arguments": item["arguments"]}
    yield end, {"type": "response.output_item.done", "output_index": index, "item": item}


def _item_events(index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    if item["type"] == "function_call":
        args = item["arguments"]
        deltas = [(0.0, args[i:i + _CHUNK]) for i in range(0, len(args), _CHUNK)]
        return [event for _, event in _call_events(index, item, deltas)]
    part = item["content"][0]
    text = part["text"]
    where = {"item_id": item["id"], "output_index": index, "content_index": 0}
    events = [{"type": "response.output_item.added", "output_index": index,
               "item": {**item, "content": [], "status": "in_progress"}},
              {"type": "response.content_part.added", **where, "part": {**part, "text": ""}}]
    events += [{"type": "response.output_text.delta", **where, "delta": text[i:i + _CHUNK], "logprobs": []}
               for i in range(0, len(text), _CHUNK)]
    return events + [{"type": "response.output_text.done", **where, "text": text, "logprobs": []},
                     {"type": "response.content_part.done", **where, "part": part},
                     {"type": "response.output_item.done", "output_index": index, "item": item}]


def opening_events(response: dict[str, Any]) -> list[dict[str, Any]]:
    events = [_lifecycle("response.created", response, status="queued" if response["background"] else "in_progress",
                         output=[], usage=None, completed_at=None)]
    if response["background"]:
        events.append(_lifecycle("response.queued", response, status="queued", output=[], usage=None,
                                 completed_at=None))
    events.append(_lifecycle("response.in_progress", response, status="in_progress", output=[], usage=None,
                             completed_at=None))
    return events


def closing_events(response: dict[str, Any], written: bool = False) -> list[dict[str, Any]]:
    """The output items' events (unless already streamed as they were written) and the final lifecycle event."""
    events: list[dict[str, Any]] = []
    if response["status"] == "completed" and not written:
        for index, item in enumerate(response["output"]):
            events += _item_events(index, item)
    kind = "response.cancelled" if response["status"] == "cancelled" else f"response.{response['status']}"
    return events + [_lifecycle(kind, response)]


def _frames(st: State, rs: model.ResponseState, starting_after: int | None,
            on_change: Callable[[], dict[str, Any]], cut: Callable[[], None] | None) -> Iterator[str]:
    with st.lock:
        opening = opening_events(rs.response)
    sequence = 0
    for event in opening:
        if starting_after is None or sequence > starting_after:
            yield _frame(event, sequence)
        sequence += 1
    if cut is not None:  # stream_cut: the connection breaks here; the response goes on without this stream
        cut()
        return
    written = False
    while True:
        response = on_change()
        with st.lock:
            writing = None if written or rs.writing is None else (
                copy.deepcopy(rs.writing), rs.writing_plan, rs.writing_started)
        if writing is not None:  # the model is writing function calls: stream them at its pace
            for event in _paced(st, *writing):
                if event["type"] == "response.output_item.done":  # noted before it is sent: no client sees it earlier
                    st.call_written(event["item"]["call_id"])
                if starting_after is None or sequence > starting_after:
                    yield _frame(event, sequence)
                sequence += 1
            written = True
            continue
        if response["status"] in model.TERMINAL:
            closing = closing_events(response, written)
            break
        if rs.hung:  # run_hang: nothing to say until a cancel; keep the connection visibly alive
            time.sleep(0.5)
            yield KEEP_ALIVE
            continue
        time.sleep(min(max(model.next_due(rs) - time.monotonic(), 0.001), 0.5))
    for event in closing:
        if event["type"] == "response.output_item.done" and event["item"]["type"] == "function_call":
            st.call_written(event["item"]["call_id"])
        if starting_after is None or sequence > starting_after:
            yield _frame(event, sequence)
        sequence += 1


def _paced(st: State, items: list[dict[str, Any]], plan: Any, started: float) -> Iterator[dict[str, Any]]:
    for index, (item, deltas) in enumerate(zip(items, plan)):
        for at, event in _call_events(index, item, deltas):
            pause = started + at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            yield event


def _frame(event: dict[str, Any], sequence: int) -> str:
    return f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': sequence})}\n\n"


def stream_response(st: State, rs: model.ResponseState, starting_after: int | None = None, *,
                    on_change: Callable[[], dict[str, Any]], cut: Callable[[], None] | None = None) -> Response:
    """SSE of a response; ``on_change`` refreshes it (and sends its webhooks) and returns a snapshot."""
    return Response(_frames(st, rs, starting_after, on_change, cut), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
