"""Request bodies and query strings at their bounds: size (chunked too), nesting depth, Unicode (docs/security.md)."""
from __future__ import annotations

import socket
import time
from typing import Iterator

from tests.gateway.client import assert_problem

LIMIT = 4096  # GATEWAY_MAX_BODY_BYTES of these tests
JSON = {"Content-Type": "application/json"}


def _chunks(body: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(body), size):  # a generator body: requests sends it chunked, no Content-Length
        yield body[start:start + size]


def _prompt(length: int) -> bytes:
    return b'{"prompt": "' + b"x" * length + b'"}'


def test_a_chunked_body_over_the_limit_is_a_413_problem(launch_gateway):
    gateway = launch_gateway(GATEWAY_MAX_BODY_BYTES=str(LIMIT))
    response = gateway.post("/v1/generations", data=_chunks(_prompt(LIMIT)), headers=JSON)
    assert_problem(response, 413)


def test_a_chunked_body_within_the_limit_is_accepted(launch_gateway):
    gateway = launch_gateway(GATEWAY_MAX_BODY_BYTES=str(LIMIT))
    response = gateway.post("/v1/generations", data=_chunks(_prompt(LIMIT - 100)), headers=JSON)
    assert response.status_code == 202, response.text


def test_a_body_nested_past_the_bound_is_a_400_problem(gateway):
    response = gateway.post("/v1/generations", data=b'{"prompt": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
                            headers=JSON)
    assert "deeper than 64" in assert_problem(response, 400)["detail"]


def test_a_lone_surrogate_in_a_generation_body_is_a_400_problem(gateway):
    response = gateway.post("/v1/generations", data=b'{"prompt": "x\\ud800 soup"}', headers=JSON)
    assert "lone surrogate" in assert_problem(response, 400)["detail"]


def test_a_lone_surrogate_in_a_subscription_url_is_a_400_problem(gateway):
    response = gateway.post("/v1/subscriptions", headers=JSON,
                            data=b'{"url": "http://127.0.0.1/\\udc00", "event_types": ["recipe.*"]}')
    assert "lone surrogate" in assert_problem(response, 400)["detail"]


def test_a_query_string_that_is_not_utf8_is_a_400_problem(gateway):
    response = gateway.get("/v1/recipes?q=%ED%A0%80")  # a lone surrogate, UTF-8 encoded
    assert "not valid UTF-8" in assert_problem(response, 400)["detail"]


def test_a_utf8_query_string_is_served(gateway):
    assert gateway.get("/v1/recipes?q=cr%C3%A8me%20br%C3%BBl%C3%A9e").status_code == 200


def _connect(gateway) -> socket.socket:
    host, port = gateway.base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=15)


def _read_all(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(4096):
        received += chunk
    return received


def test_a_body_sent_too_slowly_is_a_408_problem(launch_gateway):
    gateway = launch_gateway(GATEWAY_BODY_TIMEOUT_SECONDS="1")
    with _connect(gateway) as connection:
        connection.sendall(b"POST /v1/generations HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 100\r\n\r\n{\"prompt\": ")  # then nothing more
        started = time.monotonic()
        answer = connection.recv(4096)
        answered_after = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert answered_after < 4  # the 1 s body bound, not gunicorn's 5 s keepalive
    assert gateway.post_generation().status_code == 202


def test_headers_sent_too_slowly_end_the_connection(gateway):
    with _connect(gateway) as connection:
        connection.sendall(b"GET /v1/recipes HTTP/1.1\r\nHost: t\r\n")  # the headers never end
        started = time.monotonic()
        assert _read_all(connection) == b""  # closed by gunicorn's keepalive bound (5 s), unanswered
    assert time.monotonic() - started < 10
