"""Assistants runs as a lazy state machine: every read advances a run to where the clock says it is.

The caller holds ``State.lock``; ``now`` is ``time.monotonic()``. A run thinks (``in_progress``) for
``think_ms`` before each model turn; the turn ends in ``requires_action``, ``completed`` (with the
assistant message added to the thread), or a run fault (``failed`` / ``expired``; ``run_hang``: the run
stays ``in_progress`` until it is cancelled).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.emulator import pacing
from services.emulator.faults import Knobs
from services.emulator.model import Script, Turn, next_turn
from services.emulator.recipes import recipe_for_prompt
from services.emulator.state import BadRequest, State, get_or_404, new_id, now_s

TERMINAL = ("completed", "failed", "cancelled", "expired", "incomplete")
ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")


@dataclass
class RunState:
    run: dict[str, Any]
    script: Script
    faults: dict[str, float]
    ready_at: float
    outputs: dict[str, str] = field(default_factory=dict)
    step: dict[str, Any] | None = None  # the run step of the latest turn
    message: dict[str, Any] | None = None  # the final assistant message
    waiting_since: float = 0.0
    hung: bool = False  # run_hang: never takes its turn; only a cancel ends it
    writing: list[dict[str, Any]] | None = None  # the turn's calls while the model is still writing them
    writing_started: float = 0.0
    writing_until: float = 0.0
    writing_plan: pacing.Schedule = field(default_factory=list)


def message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


def new_message(state: State, thread_id: str, role: str, text: str, *, run_id: str | None = None,
                assistant_id: str | None = None, metadata: dict | None = None) -> dict[str, Any]:
    message = {
        "id": new_id("msg"), "object": "thread.message", "created_at": now_s(), "thread_id": thread_id,
        "role": role, "status": "completed", "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
        "assistant_id": assistant_id, "run_id": run_id, "attachments": [], "metadata": metadata or {},
        "completed_at": now_s(), "incomplete_at": None, "incomplete_details": None,
    }
    state.messages.setdefault(thread_id, []).append(message)
    return message


def start_run(state: State, thread_id: str, body: dict[str, Any], knobs: Knobs, faults: dict[str, float],
              now: float) -> RunState:
    get_or_404(state.threads, "thread", thread_id)
    assistant = get_or_404(state.assistants, "assistant", body.get("assistant_id") or "")
    if thread_id in state.active_runs:
        raise BadRequest(f"Thread {thread_id} already has an active run {state.active_runs[thread_id]}.")
    for extra in body.get("additional_messages") or []:
        new_message(state, thread_id, extra.get("role", "user"), message_text(extra.get("content")))
    instructions = body.get("instructions") or assistant.get("instructions") or ""
    if body.get("additional_instructions"):
        instructions = f"{instructions}\n{body['additional_instructions']}".strip()
    prompts = [m for m in state.messages.get(thread_id, []) if m["role"] == "user"]
    prompt = prompts[-1]["content"][0]["text"]["value"] if prompts else ""
    run = {
        "id": new_id("run"), "object": "thread.run", "created_at": now_s(), "assistant_id": assistant["id"],
        "thread_id": thread_id, "status": "queued", "started_at": None,
        "expires_at": now_s() + knobs.run_expire_s, "cancelled_at": None, "failed_at": None, "completed_at": None,
        "required_action": None, "last_error": None, "model": body.get("model") or assistant["model"],
        "instructions": instructions, "tools": body.get("tools") or assistant.get("tools") or [],
        "metadata": body.get("metadata") or {}, "incomplete_details": None, "usage": None,
        "temperature": body.get("temperature", 1.0), "top_p": body.get("top_p", 1.0),
        "max_completion_tokens": body.get("max_completion_tokens"), "max_prompt_tokens": body.get("max_prompt_tokens"),
        "truncation_strategy": body.get("truncation_strategy") or {"type": "auto", "last_messages": None},
        "response_format": body.get("response_format", "auto"), "tool_choice": body.get("tool_choice", "auto"),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
    }
    rs = RunState(run, Script(recipe_for_prompt(prompt), instructions), faults, now + knobs.think_ms / 1000)
    state.runs[run["id"]] = rs
    state.active_runs[thread_id] = run["id"]
    return rs


def _finish(state: State, rs: RunState, status: str, **fields: Any) -> None:
    rs.run.update(status=status, required_action=None, **fields)
    rs.writing = None
    state.active_runs.pop(rs.run["thread_id"], None)
    if rs.step is not None and rs.step["status"] == "in_progress":
        rs.step.update(status="completed" if status == "completed" else status, completed_at=now_s())


def _step(rs: RunState, kind: str, details: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
    run = rs.run
    return {"id": new_id("step"), "object": "thread.run.step", "created_at": now_s(),
            "assistant_id": run["assistant_id"],
            "thread_id": run["thread_id"], "run_id": run["id"], "type": kind, "status": "in_progress",
            "step_details": {"type": kind, kind: details}, "last_error": None, "expired_at": None,
            "cancelled_at": None, "failed_at": None, "completed_at": None, "metadata": {}, "usage": None}


def _written(rs: RunState, now: float) -> None:
    """The run asks for its tool outputs once the model has written every call (at once when unpaced)."""
    if rs.writing is None or now < rs.writing_until:
        return
    rs.run.update(status="requires_action",
                  required_action={"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": rs.writing}})
    rs.writing = None
    rs.waiting_since = now


def _take_turn(state: State, rs: RunState, now: float, tokens_per_second: int) -> None:
    roll = state.fault_roller(rs.faults)
    if roll("run_fail"):
        state.faults["run_fail"] += 1
        _finish(state, rs, "failed", failed_at=now_s(),
                last_error={"code": "server_error", "message": "Sorry, something went wrong."})
        return
    if roll("run_expire"):
        state.faults["run_expire"] += 1
        _finish(state, rs, "expired", expires_at=now_s())
        return
    if roll("run_hang"):
        state.faults["run_hang"] += 1
        rs.hung = True
        return
    turn: Turn = next_turn(rs.script, rs.outputs, roll)
    state.faults.update(c.fault for c in turn.tool_calls if c.fault)
    rs.outputs = {}
    if turn.tool_calls:
        calls = [c.api() for c in turn.tool_calls]
        rs.step = _step(rs, "tool_calls", [{**c, "function": {**c["function"], "output": None}} for c in calls])
        arguments = [c.arguments for c in turn.tool_calls]
        rs.writing_plan = pacing.schedule(arguments, tokens_per_second)
        rs.writing, rs.writing_started = calls, now
        rs.writing_until = now + pacing.total_seconds(arguments, tokens_per_second)
        state.record_tool_calls([(c.id, c.name) for c in turn.tool_calls], rs.ready_at, now,
                                [plan[-1][0] for plan in rs.writing_plan])
        _written(rs, now)
        return
    rs.message = new_message(state, rs.run["thread_id"], "assistant", turn.message or "", run_id=rs.run["id"],
                             assistant_id=rs.run["assistant_id"])
    rs.step = _step(rs, "message_creation", {"message_id": rs.message["id"]})
    tokens = 40 * (len(rs.script.recipe.ingredients) + len(rs.script.recipe.steps))
    _finish(state, rs, "completed", completed_at=now_s(),
            usage={"prompt_tokens": tokens, "completion_tokens": tokens // 2, "total_tokens": tokens + tokens // 2})


def refresh(state: State, rs: RunState, knobs: Knobs, now: float) -> dict[str, Any]:
    """Bring the run up to date with the clock and return its API object."""
    run = rs.run
    if run["status"] == "cancelling":
        _finish(state, rs, "cancelled", cancelled_at=now_s())
    elif run["status"] == "requires_action" and now - rs.waiting_since > knobs.run_expire_s:
        _finish(state, rs, "expired", expires_at=now_s())
    elif run["status"] in ("queued", "in_progress"):
        if run["started_at"] is None:
            run["started_at"] = now_s()
        run["status"] = "in_progress"
        if rs.writing is not None:
            _written(rs, now)
        elif now >= rs.ready_at and not rs.hung:
            _take_turn(state, rs, now, knobs.tokens_per_second)
    return run


def submit_outputs(state: State, rs: RunState, tool_outputs: list[dict[str, Any]], knobs: Knobs,
                   faults: dict[str, float] | None, now: float) -> dict[str, Any]:
    refresh(state, rs, knobs, now)
    run = rs.run
    if run["status"] != "requires_action":
        raise BadRequest(f"Runs in status \"{run['status']}\" do not accept tool outputs.")
    expected = {c["id"] for c in run["required_action"]["submit_tool_outputs"]["tool_calls"]}
    given: dict[Any, str] = {o.get("tool_call_id"): str(o.get("output", "")) for o in tool_outputs}
    missing = expected - set(given)
    if missing:
        raise BadRequest(f"Expected tool outputs for call_ids {sorted(expected)}, got {sorted(given)}.", "tool_outputs")
    unknown = set(given) - expected
    if unknown:
        raise BadRequest(f"Unknown tool call ids: {sorted(unknown)}.", "tool_outputs")
    if rs.step is not None:
        for call in rs.step["step_details"]["tool_calls"]:
            call["function"]["output"] = given[call["id"]]
        rs.step.update(status="completed", completed_at=now_s())
    if faults is not None:
        rs.faults = faults
    rs.outputs = given
    rs.ready_at = now + knobs.think_ms / 1000
    run.update(status="queued", required_action=None)
    return run


def cancel_run(state: State, rs: RunState) -> dict[str, Any]:
    if rs.run["status"] not in ACTIVE:
        raise BadRequest(f"Cannot cancel run with status '{rs.run['status']}'.")
    rs.run.update(status="cancelling", required_action=None)
    return rs.run
