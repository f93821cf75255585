"""Assistants run streams (SSE): the event order AssistantEventHandler accepts (docs/emulator.md, Run streams).

Frames are built under the state lock (snapshots), then yielded one by one; werkzeug flushes each.
"""
from __future__ import annotations

import copy
import json
import time
from typing import Any, Callable, Iterator

from flask import Response

from services.emulator import pacing, runs as run_machine
from services.emulator.state import State

DONE = "event: done\ndata: [DONE]\n\n"
KEEP_ALIVE = ": keep-alive\n\n"  # an SSE comment: clients skip it; a gone client makes the write fail
_CHUNK = 24  # characters per text delta


def frame(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _with(run: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**run, **changes}


def _step_delta(step_id: str, part: dict[str, Any]) -> str:
    return frame("thread.run.step.delta", {"id": step_id, "object": "thread.run.step.delta",
                                           "delta": {"step_details": {"type": "tool_calls", "tool_calls": [part]}}})


def _tool_call_frames(st: State, step: dict[str, Any], plan: pacing.Schedule, started: float) -> Iterator[str]:
    """The tool-call step: created, in_progress, per call a head delta (id, name) then its argument deltas,
    each sent when ``plan`` says (offsets from ``started``, monotonic). A call is complete once its last
    delta is out (the next call starts, or requires_action follows): that is when it is recorded written."""
    empty = {**step, "step_details": {"type": "tool_calls", "tool_calls": []}}
    yield frame("thread.run.step.created", empty)
    yield frame("thread.run.step.in_progress", empty)
    for index, (call, deltas) in enumerate(zip(step["step_details"]["tool_calls"], plan)):
        yield _step_delta(step["id"], {"index": index, "id": call["id"], "type": "function",
                                       "function": {"name": call["function"]["name"], "arguments": "", "output": None}})
        for number, (at, text) in enumerate(deltas, 1):
            pause = started + at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            if number == len(deltas):  # noted before the last delta is sent: no client sees it earlier
                st.call_written(call["id"])
            yield _step_delta(step["id"], {"index": index, "type": "function", "function": {"arguments": text}})
        if not deltas:
            st.call_written(call["id"])


def _message_frames(step: dict[str, Any], message: dict[str, Any]) -> list[str]:
    text = message["content"][0]["text"]["value"]
    frames = [frame("thread.run.step.created", {**step, "status": "in_progress", "completed_at": None}),
              frame("thread.run.step.in_progress", {**step, "status": "in_progress", "completed_at": None})]
    opening = {**message, "status": "in_progress", "content": [], "completed_at": None}
    frames += [frame("thread.message.created", opening), frame("thread.message.in_progress", opening)]
    for start in range(0, len(text), _CHUNK):
        frames.append(frame("thread.message.delta", {"id": message["id"], "object": "thread.message.delta", "delta": {
            "content": [{"index": 0, "type": "text",
                         "text": {"value": text[start:start + _CHUNK], "annotations": []}}]}}))
    frames += [frame("thread.message.completed", message), frame("thread.run.step.completed", step)]
    return frames


def _outcome_frames(rs: run_machine.RunState, written: bool) -> list[str]:
    """The frames after the turn ended; a tool-call step already streamed (``written``) is not repeated."""
    run = rs.run
    status = run["status"]
    if status == "requires_action" and rs.step is not None:
        return [frame("thread.run.requires_action", run)]
    if status == "completed" and rs.message is not None and rs.step is not None:
        return _message_frames(rs.step, rs.message) + [frame("thread.run.completed", run)]
    return [frame(f"thread.run.{status}", run)]


def _events(st: State, rs: run_machine.RunState, opening: list[str],
            cut: Callable[[], None] | None) -> Iterator[str]:
    yield from opening
    if cut is not None:  # stream_cut: the connection breaks here; the run goes on without this stream
        cut()
        return
    written = False
    while True:
        with st.lock:
            now = time.monotonic()
            run = run_machine.refresh(st, rs, st.knobs, now)
            calls = None
            if not written and rs.step is not None and rs.step["type"] == "tool_calls" and (
                    rs.writing is not None or run["status"] == "requires_action"):
                calls = (copy.deepcopy(rs.step), rs.writing_plan, rs.writing_started)
            elif run["status"] not in ("queued", "in_progress"):
                frames = _outcome_frames(rs, written)
                break
            wait = (rs.writing_until if rs.writing is not None else rs.ready_at) - now
            hung = rs.hung
        if calls is not None:  # the model is writing (or has written) this turn's calls: stream them at its pace
            yield from _tool_call_frames(st, *calls)
            written = True
            continue
        if hung:  # run_hang: nothing to say until a cancel; keep the connection visibly alive
            time.sleep(0.5)
            yield KEEP_ALIVE
            continue
        time.sleep(min(max(wait, 0.001), 0.5))
    yield from frames
    yield DONE


def stream_response(st: State, rs: run_machine.RunState, *, created: bool,
                    completed_step: dict[str, Any] | None = None,
                    cut: Callable[[], None] | None = None) -> Response:
    """The SSE response for runs.create(stream=True) or submit_tool_outputs(stream=True); caller holds the lock."""
    run = rs.run
    opening = [frame("thread.run.created", run)] if created else []
    opening.append(frame("thread.run.queued", _with(run, status="queued")))
    if completed_step is not None:
        opening.append(frame("thread.run.step.completed", completed_step))
    opening.append(frame("thread.run.in_progress", _with(run, status="in_progress")))
    return Response(_events(st, rs, opening, cut), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
