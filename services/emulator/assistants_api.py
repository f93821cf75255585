"""Assistants API (beta) endpoints: assistants, threads, messages, runs."""
from __future__ import annotations

import copy
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from services.emulator import runs as run_machine
from services.emulator.app import body, knobs, request_faults, state, stream_cutter
from services.emulator.assistants_stream import stream_response
from services.emulator.models_api import require_model
from services.emulator.tool_schemas import check_tools
from services.emulator.state import BadRequest, NotFound, cursor_page, get_or_404, new_id, now_s

bp = Blueprint("assistants", __name__)
_ASSISTANT_FIELDS = ("name", "description", "instructions", "metadata", "tools", "model", "temperature", "top_p",
                     "response_format", "tool_resources", "reasoning_effort")


@bp.post("/assistants")
def create_assistant() -> Response:
    data = body()
    if not data.get("model"):
        raise BadRequest("Missing required parameter: 'model'.", "model")
    require_model(data["model"])
    check_tools(data.get("tools"))
    assistant: dict[str, Any] = {"id": new_id("asst"), "object": "assistant", "created_at": now_s(), "name": None,
                                 "description": None, "instructions": None, "metadata": {}, "tools": [],
                                 "temperature": 1.0, "top_p": 1.0, "response_format": "auto", "tool_resources": {}}
    assistant.update({k: data[k] for k in _ASSISTANT_FIELDS if k in data})
    st = state()
    with st.lock:
        st.assistants[assistant["id"]] = assistant
        return jsonify(copy.deepcopy(assistant))


@bp.get("/assistants")
def list_assistants() -> Response:
    st = state()
    with st.lock:
        return jsonify(copy.deepcopy(cursor_page(list(st.assistants.values()), request.args)))


@bp.get("/assistants/<assistant_id>")
def retrieve_assistant(assistant_id: str) -> Response:
    st = state()
    with st.lock:
        return jsonify(copy.deepcopy(get_or_404(st.assistants, "assistant", assistant_id)))


@bp.post("/assistants/<assistant_id>")
def update_assistant(assistant_id: str) -> Response:
    data = body()
    if "model" in data:
        require_model(data["model"])
    check_tools(data.get("tools"))
    st = state()
    with st.lock:
        assistant = get_or_404(st.assistants, "assistant", assistant_id)
        assistant.update({k: data[k] for k in _ASSISTANT_FIELDS if k in data})
        return jsonify(copy.deepcopy(assistant))


@bp.delete("/assistants/<assistant_id>")
def delete_assistant(assistant_id: str) -> Response:
    st = state()
    with st.lock:
        get_or_404(st.assistants, "assistant", assistant_id)
        del st.assistants[assistant_id]
    return jsonify(id=assistant_id, object="assistant.deleted", deleted=True)


@bp.post("/threads")
def create_thread() -> Response:
    data = body()
    thread: dict[str, Any] = {"id": new_id("thread"), "object": "thread", "created_at": now_s(),
                              "metadata": data.get("metadata") or {},
                              "tool_resources": data.get("tool_resources") or {}}
    st = state()
    with st.lock:
        st.threads[thread["id"]] = thread
        st.messages[thread["id"]] = []
        for message in data.get("messages") or []:
            run_machine.new_message(st, thread["id"], message.get("role", "user"),
                                    run_machine.message_text(message.get("content")), metadata=message.get("metadata"))
        return jsonify(copy.deepcopy(thread))


@bp.get("/threads/<thread_id>")
def retrieve_thread(thread_id: str) -> Response:
    st = state()
    with st.lock:
        return jsonify(copy.deepcopy(get_or_404(st.threads, "thread", thread_id)))


@bp.delete("/threads/<thread_id>")
def delete_thread(thread_id: str) -> Response:
    st = state()
    with st.lock:
        get_or_404(st.threads, "thread", thread_id)
        del st.threads[thread_id]
        st.messages.pop(thread_id, None)
    return jsonify(id=thread_id, object="thread.deleted", deleted=True)


@bp.post("/threads/<thread_id>/messages")
def create_message(thread_id: str) -> Response:
    data = body()
    if data.get("role") not in ("user", "assistant"):
        raise BadRequest("'role' must be 'user' or 'assistant'.", "role")
    if "content" not in data:
        raise BadRequest("Missing required parameter: 'content'.", "content")
    st = state()
    with st.lock:
        get_or_404(st.threads, "thread", thread_id)
        message = run_machine.new_message(st, thread_id, data["role"], run_machine.message_text(data["content"]),
                                          metadata=data.get("metadata"))
        return jsonify(copy.deepcopy(message))


@bp.get("/threads/<thread_id>/messages")
def list_messages(thread_id: str) -> Response:
    st = state()
    with st.lock:
        get_or_404(st.threads, "thread", thread_id)
        items = st.messages.get(thread_id, [])
        if request.args.get("run_id"):
            items = [m for m in items if m["run_id"] == request.args["run_id"]]
        return jsonify(copy.deepcopy(cursor_page(items, request.args)))


def _run_json(run: dict[str, Any]) -> Response:
    response = jsonify(copy.deepcopy(run))
    if run["status"] in run_machine.ACTIVE:
        response.headers["openai-poll-after-ms"] = str(int(knobs().poll_after_ms))
    return response


def _get_run(thread_id: str, run_id: str) -> run_machine.RunState:
    st = state()
    rs = get_or_404(st.runs, "run", run_id)
    if rs.run["thread_id"] != thread_id:
        raise NotFound("run", run_id)
    return rs


@bp.post("/threads/<thread_id>/runs")
def create_run(thread_id: str) -> Response:
    data = body()
    if data.get("model"):
        require_model(data["model"])
    check_tools(data.get("tools"))
    st = state()
    with st.lock:
        rs = run_machine.start_run(st, thread_id, data, st.knobs, request_faults(), time.monotonic())
        if data.get("stream"):
            return stream_response(st, rs, created=True, cut=stream_cutter())
        return _run_json(rs.run)


@bp.get("/threads/<thread_id>/runs")
def list_runs(thread_id: str) -> Response:
    st = state()
    with st.lock:
        get_or_404(st.threads, "thread", thread_id)
        now = time.monotonic()
        items = [run_machine.refresh(st, rs, st.knobs, now) for rs in st.runs.values()
                 if rs.run["thread_id"] == thread_id]
        return jsonify(copy.deepcopy(cursor_page(items, request.args)))


@bp.get("/threads/<thread_id>/runs/<run_id>")
def retrieve_run(thread_id: str, run_id: str) -> Response:
    st = state()
    with st.lock:
        rs = _get_run(thread_id, run_id)
        return _run_json(run_machine.refresh(st, rs, st.knobs, time.monotonic()))


@bp.post("/threads/<thread_id>/runs/<run_id>/submit_tool_outputs")
def submit_tool_outputs(thread_id: str, run_id: str) -> Response:
    data = body()
    if not isinstance(data.get("tool_outputs"), list):
        raise BadRequest("Missing required parameter: 'tool_outputs'.", "tool_outputs")
    st = state()
    with st.lock:
        rs = _get_run(thread_id, run_id)
        faults = request_faults() if request.headers.get("X-Emulator-Faults") else None
        run_machine.submit_outputs(st, rs, data["tool_outputs"], st.knobs, faults, time.monotonic())
        previous_step = copy.deepcopy(rs.step)
        if data.get("stream"):
            return stream_response(st, rs, created=False, completed_step=previous_step, cut=stream_cutter())
        return _run_json(rs.run)


@bp.post("/threads/<thread_id>/runs/<run_id>/cancel")
def cancel_run(thread_id: str, run_id: str) -> Response:
    st = state()
    with st.lock:
        rs = _get_run(thread_id, run_id)
        run_machine.refresh(st, rs, st.knobs, time.monotonic())
        return _run_json(run_machine.cancel_run(st, rs))
