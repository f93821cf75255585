"""Health, runtime knobs and request statistics (never faulted, never delayed)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from services.emulator.app import body, error, state
from services.emulator.faults import FaultSpecError, updated_knobs

bp = Blueprint("admin", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/_emulator/config")
def get_config() -> Response:
    return jsonify(state().knobs.as_dict())


@bp.put("/_emulator/config")
def put_config() -> Response:
    """Partial update, e.g. ``{"faults": "rate_limit=0.5", "think_ms": 0, "seed": 7}``; a new seed restarts the dice."""
    st = state()
    changes = body()
    with st.lock:
        try:
            st.knobs = updated_knobs(st.knobs, changes)
        except (FaultSpecError, ValueError) as exc:
            return error(400, str(exc))
        if "seed" in changes:
            st.dice.reseed(st.knobs.seed)
        return jsonify(st.knobs.as_dict())


@bp.get("/_emulator/stats")
def get_stats() -> Response:
    return jsonify(state().stats())


@bp.post("/_emulator/stats/reset")
def reset_stats() -> Response:
    st = state()
    with st.lock:
        st.requests.clear()
        st.statuses.clear()
        st.faults.clear()
        st.tool_calls.clear()
    return jsonify(st.stats())


@bp.get("/_emulator/toolcalls")
def get_tool_calls() -> Response:
    """When each tool call was made available: ``{"tool_calls": {call_id: {name, emitted_at, due_at}}}``."""
    st = state()
    with st.lock:
        return jsonify(tool_calls=dict(st.tool_calls))
