"""Reading what a client sends, before any route sees it: body size (chunked too), JSON, the query string.

Refusals are RFC 9457 problems (problems.py); the rules themselves are pure
functions in validation.py and services/common/validation.py (docs/security.md).
"""
from __future__ import annotations

from typing import Any

import gevent
from flask import Flask, request

from services.common.validation import UnsafeJson, parse_json
from services.gateway import validation
from services.gateway.problems import ApiProblem
from services.gateway.resources import resources


def too_large(limit: int) -> ApiProblem:
    return ApiProblem(413, "content-too-large", "Content Too Large",
                      f"The request body is larger than {limit} bytes.")


def read_body() -> bytes:
    """The whole body: 413 past MAX_CONTENT_LENGTH (chunked too), 408 when it takes longer than the body timeout."""
    seconds = resources().settings.gateway_body_timeout_seconds
    # A slow sender holds only its own greenlet, but not for ever (gunicorn bounds the headers, not the body).
    with gevent.Timeout(seconds, False):  # type: ignore[arg-type]  # False: expire silently (gevent docs)
        return _read_whole_body()
    raise ApiProblem(408, "request-timeout", "Request Timeout",
                     f"The request body did not arrive within {seconds:g} s.", headers={"Connection": "close"})


def _read_whole_body() -> bytes:
    limit = request.max_content_length
    if request.content_length is not None or limit is None:
        return request.get_data(cache=True)  # werkzeug: 413 when Content-Length is over the limit
    # Chunked: werkzeug would stop quietly at the limit (a truncated body); read one byte more to know.
    raw = request.environ["wsgi.input"].read(limit + 1)
    if len(raw) > limit:
        raise too_large(limit)
    return raw


def json_body() -> Any:
    """The request's JSON body: 415 unless it says JSON, 413 when too large, 400 when not safe JSON."""
    if request.mimetype != "application/json":
        raise ApiProblem(415, "unsupported-media-type", "Unsupported Media Type",
                         "Send the body as application/json.")
    try:
        return parse_json(read_body())
    except UnsafeJson as exc:
        raise validation.invalid(f"body refused: {exc.reason}") from None


def refuse_bad_query() -> None:
    """before_request: a query string that is not UTF-8 is a 400 (werkzeug would replace it with U+FFFD)."""
    refusal = validation.query_refusal(request.query_string)
    if refusal:
        raise validation.invalid(refusal)


def init_app(app: Flask) -> None:
    app.before_request(refuse_bad_query)
