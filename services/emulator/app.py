"""Flask app factory: request statistics, latency and HTTP faults, the OpenAI error shape, blueprints."""
from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any, Callable

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from services.emulator.faults import Dice, FaultSpecError, HTTP_FAULTS, Knobs, parse_faults
from services.emulator.models import ModelNotFound
from services.emulator.state import BadRequest, NotFound, State

FAULT_HEADER = "X-Emulator-Faults"
_UNFAULTED = ("/_emulator", "/healthz")
_ASSISTANTS_PATHS = ("/v1/assistants", "/v1/threads")


def state() -> State:
    return current_app.extensions["emulator"]


def knobs() -> Knobs:
    return state().knobs


def request_faults() -> dict[str, float]:
    """The fault probabilities for this request: the configured ones, overridden by the X-Emulator-Faults header."""
    return g.faults


def body() -> dict[str, Any]:
    data = request.get_json(silent=True, force=True)
    return data if isinstance(data, dict) else {}


def error(status: int, message: str, *, type_: str = "invalid_request_error", param: str | None = None,
          code: str | None = None, headers: dict[str, str] | None = None) -> Response:
    payload = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return Response(json.dumps(payload), status=status, mimetype="application/json", headers=headers)


def _route_key() -> str:
    rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    return f"{request.method} {rule}"


def _shut_down(sock: socket.socket | None) -> None:
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _drop_connection() -> Response:
    """Close the socket without an answer: the client sees the connection drop."""
    _shut_down(request.environ.get("werkzeug.socket"))
    return Response(status=500)  # never reaches the client


def stream_cutter() -> Callable[[], None] | None:
    """The ``stream_cut`` fault, rolled for this streamed request: a function that breaks its connection
    (the body is never finished, as when a network path fails), or None. The run / response goes on."""
    st = state()
    if not st.dice.roll(request_faults().get("stream_cut", 0.0)):
        return None
    with st.lock:
        st.faults["stream_cut"] += 1
    sock = request.environ.get("werkzeug.socket")
    return lambda: _shut_down(sock)


def _before() -> Response | None:
    st = state()
    g.started = time.monotonic()
    with st.lock:
        st.requests[_route_key()] += 1
        current = st.knobs
    try:
        g.faults = {**current.faults, **parse_faults(request.headers.get(FAULT_HEADER))}
    except FaultSpecError as exc:
        return error(400, f"{FAULT_HEADER}: {exc}", param=FAULT_HEADER)
    if request.path.startswith(_UNFAULTED):
        return None
    if current.api_key is not None and request.headers.get("Authorization") != f"Bearer {current.api_key}":
        return error(401, "Incorrect API key provided (emulated). You can find your API key at "
                          "https://platform.openai.com/account/api-keys.", code="invalid_api_key")
    if request.path.startswith(_ASSISTANTS_PATHS) and st.dice.roll(g.faults.get("assistants_shutdown", 0.0)):
        with st.lock:
            st.faults["assistants_shutdown"] += 1
        return error(404, "The Assistants API has been shut down (emulated; shut down on 2026-08-26). "
                          "Use the Responses API instead: POST /v1/responses.", code="not_found")
    if current.latency_ms:
        time.sleep(current.latency_ms / 1000)
    for fault in HTTP_FAULTS:
        if st.dice.roll(g.faults.get(fault, 0.0)):
            with st.lock:
                st.faults[fault] += 1
            if fault == "drop":
                return _drop_connection()
            if fault == "rate_limit":
                delay = current.retry_after_ms
                return error(429, "Rate limit reached for requests (emulated).", type_="requests",
                             code="rate_limit_exceeded",
                             headers={"retry-after-ms": str(delay), "retry-after": f"{delay / 1000:g}"})
            return error(500, "The server had an error while processing your request. Sorry about that! (emulated)",
                         type_="server_error")
    return None


def _after(response: Response) -> Response:
    st = state()
    with st.lock:
        st.statuses[f"{_route_key()} {response.status_code}"] += 1
    response.headers.setdefault("x-request-id", f"req_{uuid.uuid4().hex}")
    return response


def _handle_not_found(exc: NotFound) -> Response:
    return error(404, str(exc))


def _handle_model_not_found(exc: ModelNotFound) -> Response:
    return error(404, str(exc), code="model_not_found")


def _handle_bad_request(exc: BadRequest) -> Response:
    return error(400, str(exc), param=exc.param, code=exc.code)


def _handle_http(exc: HTTPException) -> Response:
    if exc.code == 404:
        return error(404, f"Invalid URL ({request.method} {request.path})")
    return error(exc.code or 500, exc.description or exc.name,
                 type_="server_error" if (exc.code or 500) >= 500 else "invalid_request_error")


def create_app(initial: Knobs | None = None, *, webhook_url: str | None = None,
               webhook_secret: str | None = None) -> Flask:
    """The emulator app; all state lives in ``app.extensions["emulator"]``."""
    from services.emulator.admin import bp as admin_bp
    from services.emulator.assistants_api import bp as assistants_bp
    from services.emulator.models_api import bp as models_bp
    from services.emulator.responses_api import bp as responses_bp

    start = initial or Knobs()
    app = Flask(__name__)
    app.extensions["emulator"] = State(knobs=start, dice=Dice(start.seed), webhook_url=webhook_url,
                                       webhook_secret=webhook_secret)
    app.before_request(_before)
    app.after_request(_after)
    app.register_error_handler(NotFound, _handle_not_found)
    app.register_error_handler(BadRequest, _handle_bad_request)
    app.register_error_handler(ModelNotFound, _handle_model_not_found)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_blueprint(admin_bp)
    app.register_blueprint(assistants_bp, url_prefix="/v1")
    app.register_blueprint(responses_bp, url_prefix="/v1")
    app.register_blueprint(models_bp, url_prefix="/v1")
    return app
