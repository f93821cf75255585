"""Responses API objects as a lazy state machine, driven by the same scripted model as the Assistants runs.

The caller holds ``State.lock``; ``now`` is ``time.monotonic()``. A response chain (previous_response_id)
carries the model's Script forward; each response is one model turn: function_call items, or a message.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

from services.emulator import pacing
from services.emulator.faults import Knobs
from services.emulator.model import Script, next_turn
from services.emulator.recipes import recipe_for_prompt
from services.emulator.state import BadRequest, State, new_id

TERMINAL = ("completed", "failed", "incomplete", "cancelled")


@dataclass
class ResponseState:
    response: dict[str, Any]
    script: Script
    faults: dict[str, float]
    outputs: dict[str, str]
    ready_at: float
    queued_until: float
    events: list[dict[str, Any]] = field(default_factory=list)  # terminal notifications not yet delivered
    hung: bool = False  # run_hang: never finishes its turn; only a cancel (background) ends it
    writing: list[dict[str, Any]] | None = None  # function_call items the model is still writing
    writing_started: float = 0.0
    writing_until: float = 0.0
    writing_plan: pacing.Schedule = field(default_factory=list)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content or [] if isinstance(p, dict) and "text" in p)


def parse_input(raw: Any) -> tuple[str, dict[str, str]]:
    """The last user text and the function_call_output items (call_id -> output) of a request's ``input``."""
    if isinstance(raw, str):
        return raw, {}
    prompt, outputs = "", {}
    for item in raw or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "function_call_output":
            output = item.get("output")
            outputs[str(item.get("call_id"))] = output if isinstance(output, str) else _text_of(output)
        elif kind == "message" and item.get("role") == "user":
            prompt = _text_of(item.get("content"))
    return prompt, outputs


def start_response(state: State, data: dict[str, Any], knobs: Knobs, faults: dict[str, float],
                   now: float) -> ResponseState:
    if not data.get("model"):
        raise BadRequest("Missing required parameter: 'model'.", "model")
    prompt, outputs = parse_input(data.get("input"))
    previous_id = data.get("previous_response_id")
    if previous_id:
        previous = state.responses.get(previous_id)
        if previous is None:
            raise BadRequest(f"Previous response with id '{previous_id}' not found.", "previous_response_id")
        if previous.response["status"] != "completed":
            raise BadRequest(f"Previous response '{previous_id}' is {previous.response['status']}.",
                             "previous_response_id")
        script = copy.deepcopy(previous.script)
        missing = [c.id for c in script.pending if c.id not in outputs]
        if missing:
            raise BadRequest(f"No tool output found for function call {missing[0]}.", "input")
        if data.get("instructions"):
            script.instructions = data["instructions"]
    else:
        if not prompt:
            raise BadRequest("The input has no user message to answer.", "input")
        script = Script(recipe_for_prompt(prompt), data.get("instructions"))
    background = bool(data.get("background"))
    think = knobs.think_ms / 1000
    response = {
        "id": new_id("resp"), "object": "response", "created_at": time.time(),
        "status": "queued" if background else "in_progress", "background": background, "error": None,
        "incomplete_details": None, "instructions": data.get("instructions"),
        "max_output_tokens": data.get("max_output_tokens"), "model": data["model"], "output": [],
        "parallel_tool_calls": data.get("parallel_tool_calls", True), "previous_response_id": previous_id,
        "reasoning": {"effort": None, "summary": None}, "store": data.get("store", True),
        "temperature": data.get("temperature", 1.0), "text": {"format": {"type": "text"}},
        "tool_choice": data.get("tool_choice", "auto"), "tools": data.get("tools") or [],
        "top_p": data.get("top_p", 1.0), "truncation": "disabled", "usage": None,
        "metadata": data.get("metadata") or {}, "completed_at": None,
    }
    rs = ResponseState(response, script, faults, outputs, ready_at=now + think,
                       queued_until=now + (think / 2 if background else 0))
    state.responses[response["id"]] = rs
    return rs


def _output_items(script: Script, outputs: dict[str, str], roll: Any) -> list[dict[str, Any]]:
    turn = next_turn(script, outputs, roll)
    if turn.tool_calls:
        return [{"type": "function_call", "id": new_id("fc"), "call_id": c.id, "name": c.name,
                 "arguments": c.arguments, "status": "completed"} for c in turn.tool_calls]
    return [{"type": "message", "id": new_id("msg"), "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": turn.message or "", "annotations": [], "logprobs": []}]}]


def _finish(rs: ResponseState, status: str, **fields: Any) -> None:
    rs.writing = None
    rs.response.update(status=status, **fields)
    rs.events.append({"type": f"response.{status}", "response_id": rs.response["id"]})


def _complete(rs: ResponseState, output: list[dict[str, Any]]) -> None:
    tokens = 30 * len(output)
    _finish(rs, "completed", output=output, completed_at=time.time(),
            usage={"input_tokens": 200, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                   "output_tokens": tokens, "output_tokens_details": {"reasoning_tokens": 0},
                   "total_tokens": 200 + tokens})


def next_due(rs: ResponseState) -> float:
    """When the response next changes on its own: its turn, or the end of writing its calls."""
    return rs.writing_until if rs.writing is not None else rs.ready_at


def refresh(state: State, rs: ResponseState, now: float, tokens_per_second: int = 0) -> dict[str, Any]:
    """Bring the response up to date with the clock and return its API object."""
    response = rs.response
    if response["status"] not in ("queued", "in_progress"):
        return response
    if now >= rs.queued_until:
        response["status"] = "in_progress"
    if rs.writing is not None:  # completed only once the model has written every call
        if now >= rs.writing_until:
            _complete(rs, rs.writing)
        return response
    if now < rs.ready_at or rs.hung:
        return response
    roll = state.fault_roller(rs.faults)
    if roll("run_fail"):
        state.faults["run_fail"] += 1
        _finish(rs, "failed", error={"code": "server_error", "message": "The model failed to respond (emulated)."})
        return response
    if roll("run_expire"):
        state.faults["run_expire"] += 1
        _finish(rs, "incomplete", incomplete_details={"reason": "max_output_tokens"})
        return response
    if roll("run_hang"):
        state.faults["run_hang"] += 1
        rs.hung = True
        return response
    output = _output_items(rs.script, rs.outputs, roll)
    state.faults.update(c.fault for c in rs.script.pending if c.fault)  # pending: this turn's calls
    calls = [i for i in output if i["type"] == "function_call"]
    plan = pacing.schedule([i["arguments"] for i in calls], tokens_per_second)
    state.record_tool_calls([(i["call_id"], i["name"]) for i in calls], rs.ready_at, now,
                            [deltas[-1][0] for deltas in plan])
    writing = pacing.total_seconds([i["arguments"] for i in calls], tokens_per_second)
    if writing <= 0:
        _complete(rs, output)
        return response
    rs.writing, rs.writing_plan, rs.writing_started, rs.writing_until = output, plan, now, now + writing
    return response


def cancel_response(rs: ResponseState) -> dict[str, Any]:
    if not rs.response["background"]:
        raise BadRequest("Only responses created with background=true can be cancelled.")
    if rs.response["status"] in ("queued", "in_progress"):
        _finish(rs, "cancelled")
    return rs.response
