"""Signed webhooks for finished responses, verified with the SDK's own client.webhooks.unwrap."""
from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest
from openai import InvalidWebhookSignatureError

from tests.support.emulator import Emulator
from tests.emulator.driver import SEED_PROMPT
from tests.support.waiting import wait_for

SECRET = "whsec_" + base64.b64encode(b"emulator-test-signing-key-32byte").decode()


class Receiver:
    """A real HTTP endpoint that records every POST (body and headers)."""

    def __init__(self) -> None:
        received: list[tuple[bytes, dict[str, str]]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server naming
                length = int(self.headers.get("content-length", 0))
                received.append((self.rfile.read(length), dict(self.headers.items())))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_completed_background_response_is_delivered_signed(
        start_emulator: Callable[..., Emulator], receiver: Receiver) -> None:
    emulator = start_emulator("--webhook-url", receiver.url, "--webhook-secret", SECRET)
    client = emulator.client()

    created = client.responses.create(model="gpt-4.1", input=SEED_PROMPT, background=True)
    body, headers = wait_for(lambda: receiver.received and receiver.received[0], timeout=10,
                             message="a webhook delivery")
    event = client.webhooks.unwrap(body, headers, secret=SECRET)

    assert event.type == "response.completed"
    assert event.data.id == created.id


def test_a_wrong_secret_fails_verification(start_emulator: Callable[..., Emulator], receiver: Receiver) -> None:
    emulator = start_emulator("--webhook-url", receiver.url, "--webhook-secret", SECRET)
    client = emulator.client()

    client.responses.create(model="gpt-4.1", input=SEED_PROMPT, extra_headers={"X-Emulator-Faults": "run_fail=1"})
    body, headers = wait_for(lambda: receiver.received and receiver.received[0], timeout=10,
                             message="a webhook delivery")
    other = "whsec_" + base64.b64encode(b"a-different-signing-key-32-bytes").decode()

    assert client.webhooks.unwrap(body, headers, secret=SECRET).type == "response.failed"
    with pytest.raises(InvalidWebhookSignatureError):
        client.webhooks.unwrap(body, headers, secret=other)
