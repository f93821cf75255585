"""The emulator keeps HTTP/1.1 connections alive, as the real API does: a client's next request,
after a JSON answer or a streamed one that ended, travels on the same TCP connection."""
from __future__ import annotations

import http.client
import json

from tests.support.emulator import Emulator

_STREAMED = {"model": "gpt-4.1", "input": "a seed recipe", "stream": True, "tools": []}


def _events(body: bytes) -> list[dict]:
    return [json.loads(line[len(b"data: "):]) for line in body.splitlines() if line.startswith(b"data: {")]


def test_one_connection_serves_json_then_a_finished_stream_then_json_again(emulator: Emulator) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        first = connection.getresponse()
        assert first.status == 200 and first.read() and first.getheader("Connection") != "close"
        sock = connection.sock

        connection.request("POST", "/v1/responses", body=json.dumps(_STREAMED),
                           headers={"Content-Type": "application/json", "Authorization": "Bearer sk-test"})
        streamed = connection.getresponse()
        assert streamed.status == 200 and streamed.getheader("Transfer-Encoding") == "chunked"
        assert _events(streamed.read())[-1]["type"] == "response.completed"  # read() returns: the stream ended

        connection.request("GET", "/healthz")
        last = connection.getresponse()
        assert last.status == 200 and json.loads(last.read()) == {"status": "ok"}
        assert connection.sock is sock  # never reconnected
    finally:
        connection.close()
