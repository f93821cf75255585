"""RFC 9457 problem details: every error the gateway answers is ``application/problem+json``."""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

PROBLEM_TYPE_BASE = "https://recipes.example/problems/"
CONTENT_TYPE = "application/problem+json"


class ApiProblem(Exception):
    """An error the API reports on purpose: status, a short slug for ``type``, a detail, extra headers."""

    def __init__(self, status: int, slug: str, title: str, detail: str, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(status: int, slug: str, title: str, detail: str,
                     headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body = {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status,
            "detail": detail, "instance": request.path, **extra}
    response = Response(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-").replace("'", "")


def handle_http_exception(error: HTTPException) -> Response:
    headers = {}
    methods = getattr(error, "valid_methods", None)  # werkzeug's MethodNotAllowed only
    if error.code == 405 and methods:
        headers["Allow"] = ", ".join(methods)
    return problem_response(error.code or 500, _slug(error.name), error.name,
                            error.description or error.name, headers)


def handle_api_problem(problem: ApiProblem) -> Response:
    return problem_response(problem.status, problem.slug, problem.title, problem.detail,
                            problem.headers, **problem.extra)


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    import logging
    logging.getLogger(__name__).exception("unhandled error", extra={"path": request.path})
    return problem_response(500, "internal-server-error", "Internal Server Error",
                            "The server failed to handle this request; it has been logged.")


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(ApiProblem, handle_api_problem)
    app.register_error_handler(Exception, handle_unexpected)
