"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records what it is sent.

It can fail on purpose (``failure_status``, 500 unless told, with an optional ``Retry-After``, to the
first ``fail_first`` requests, or to all while ``always_fail``), answer slowly (``delay_seconds``)
and, once given the subscription's ``secret``, verifies every delivery with the `standardwebhooks`
package (an implementation independent of ours), answering 400 to a delivery that does not verify.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from standardwebhooks.webhooks import Webhook

from services.common.schemas import RECIPE_TYPES
from tests.support.broker import get_all
from tests.support.waiting import wait_for


class WebhookReceiver:
    def __init__(self, fail_first: int = 0, always_fail: bool = False, secret: str | None = None,
                 delay_seconds: float = 0.0, failure_status: int = 500, retry_after: str | None = None) -> None:
        self.secret = secret
        self.failure_status = failure_status
        self.retry_after = retry_after
        self.requests: list[tuple[float, bytes, int]] = []  # every request: monotonic time, body, status answered
        self.attempts = 0
        self.most_at_once = 0  # the largest number of requests in progress at the same time
        self._at_once = 0
        self._delay_seconds = delay_seconds
        self.rejected = 0
        self.deliveries: list[tuple[dict[str, str], bytes]] = []  # accepted (2xx) requests: headers, body
        self.arrived: list[float] = []  # time.monotonic() of every request, when it arrived
        self._fail_first = fail_first
        self.always_fail = always_fail
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver._at_once += 1
                    receiver.most_at_once = max(receiver.most_at_once, receiver._at_once)
                try:
                    time.sleep(receiver._delay_seconds)  # a slow (or, past the sender's timeout, dead) target
                    status = receiver._receive(body, {k.lower(): v for k, v in self.headers.items()})
                finally:
                    with receiver._lock:
                        receiver._at_once -= 1
                self.send_response(status)
                if status == receiver.failure_status and receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def _receive(self, body: bytes, headers: dict[str, str]) -> int:
        with self._lock:
            self.attempts += 1
            self.arrived.append(time.monotonic())
            if self.always_fail or self.attempts <= self._fail_first:
                self.requests.append((time.monotonic(), body, self.failure_status))
                return self.failure_status
            if self.secret is not None:
                try:
                    Webhook(self.secret).verify(body, headers)
                except Exception:  # noqa: BLE001 - any verification failure is a rejection
                    self.rejected += 1
                    self.requests.append((time.monotonic(), body, 400))
                    return 400
            self.requests.append((time.monotonic(), body, 204))
            self.deliveries.append((headers, body))
            return 204

    def set_failing(self, failing: bool) -> None:
        """Answer ``failure_status`` to everything from now on (True), or stop doing so (False)."""
        with self._lock:
            self.always_fail = failing

    def count(self) -> int:
        with self._lock:
            return len(self.deliveries)

    def payloads(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, body in self.deliveries]

    def event_ids(self) -> set[str]:
        return {payload["id"] for payload in self.payloads()}

    def subscribe(self, gateway_url: str, headers: dict[str, str] | None = None) -> None:
        """Subscribe this receiver to every recipe event at the gateway; keep the secret it signs with."""
        created = requests.post(f"{gateway_url}/v1/subscriptions", headers=headers, timeout=10,
                                json={"url": self.url, "event_types": ["recipe.*"]})
        assert created.status_code == 201, created.text
        self.secret = created.json()["secret"]

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def every_recipe_event_reaches_both(rabbitmq_url: str, receiver: "WebhookReceiver", recipes: list[dict],
                                    webhook_timeout: float) -> dict[str, dict]:
    """Every recipe event of ``recipes`` (one recipe.created, one per ingredient and step, one
    recipe.completed each) reached the outside AMQP queue ``outside.subscriber`` once and the webhook
    ``receiver``; returns what the queue got, by message id."""
    expected = sum(2 + len(r["ingredients"]) + len(r["steps"]) for r in recipes)
    seen: dict[str, dict] = {}
    wait_for(lambda: seen.update({p.message_id: json.loads(b) for p, b in
                                  get_all(rabbitmq_url, "outside.subscriber")}) or len(seen) >= expected,
             timeout=60, message="the outside subscriber's recipe events")
    assert len(seen) == expected
    assert {event["type"] for event in seen.values()} == set(RECIPE_TYPES)
    wait_for(lambda: receiver.event_ids() >= set(seen), timeout=webhook_timeout, message="every webhook delivery")
    assert receiver.event_ids() == set(seen)
    return seen
