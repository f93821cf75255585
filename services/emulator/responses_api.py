"""Responses API endpoints: create (sync, stream, background), retrieve (also as a stream), cancel."""
from __future__ import annotations

import copy
import threading
import time

from flask import Blueprint, Response, jsonify, request

from services.emulator import responses_model as model
from services.emulator.app import body, request_faults, state, stream_cutter
from services.emulator.models_api import require_model
from services.emulator.tool_schemas import check_tools
from services.emulator.responses_stream import stream_response
from services.emulator.state import BadRequest, State, get_or_404
from services.emulator.webhooks import flush

bp = Blueprint("responses", __name__)


def _advance(st: State, rs: model.ResponseState) -> dict:
    """Refresh under the lock, send any webhook it produced, return a snapshot of the response."""
    with st.lock:
        response = model.refresh(st, rs, time.monotonic(), st.knobs.tokens_per_second)
        flush(st, rs.events)
        return copy.deepcopy(response)


def _schedule(st: State, rs: model.ResponseState) -> None:
    """Background responses progress without anyone polling (webhook subscribers only wait)."""
    for at in (rs.queued_until, rs.ready_at):
        _later(st, rs, at)


def _later(st: State, rs: model.ResponseState, at: float) -> None:
    timer = threading.Timer(max(0.0, at - time.monotonic()), _advance_background, args=(st, rs))
    timer.daemon = True
    timer.start()


def _advance_background(st: State, rs: model.ResponseState) -> None:
    _advance(st, rs)
    with st.lock:
        writing = rs.writing is not None
    if writing:  # paced function calls: the response completes when they are written
        _later(st, rs, rs.writing_until)


@bp.post("/responses")
def create_response() -> Response:
    data = body()
    if data.get("model"):
        require_model(data["model"])
    check_tools(data.get("tools"))
    st = state()
    with st.lock:
        rs = model.start_response(st, data, st.knobs, request_faults(), time.monotonic())
    if data.get("background"):
        _schedule(st, rs)
    if data.get("stream"):
        return stream_response(st, rs, on_change=lambda: _advance(st, rs), cut=stream_cutter())
    if data.get("background"):
        return jsonify(_advance(st, rs))
    time.sleep(max(0.0, rs.ready_at - time.monotonic()))
    response = _advance(st, rs)
    if rs.writing is not None:  # paced: the answer comes once the model has written every call
        time.sleep(max(0.0, rs.writing_until - time.monotonic()))
        response = _advance(st, rs)
    return jsonify(response)


@bp.get("/responses/<response_id>")
def retrieve_response(response_id: str) -> Response:
    st = state()
    with st.lock:
        rs = get_or_404(st.responses, "response", response_id)
    if request.args.get("stream") in ("true", "1"):
        after = request.args.get("starting_after")
        try:
            starting_after = int(after) if after is not None else None
        except ValueError:
            raise BadRequest("starting_after must be an integer", "starting_after") from None
        return stream_response(st, rs, starting_after, on_change=lambda: _advance(st, rs), cut=stream_cutter())
    return jsonify(_advance(st, rs))


@bp.post("/responses/<response_id>/cancel")
def cancel_response(response_id: str) -> Response:
    st = state()
    with st.lock:
        rs = get_or_404(st.responses, "response", response_id)
        model.refresh(st, rs, time.monotonic(), st.knobs.tokens_per_second)
        model.cancel_response(rs)
        flush(st, rs.events)
        return jsonify(copy.deepcopy(rs.response))


@bp.delete("/responses/<response_id>")
def delete_response(response_id: str) -> Response:
    st = state()
    with st.lock:
        get_or_404(st.responses, "response", response_id)
        del st.responses[response_id]
    return jsonify(id=response_id, object="response.deleted", deleted=True)
