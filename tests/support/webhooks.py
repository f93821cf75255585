"""A webhook receiver for tests: verifies each delivery with the `standardwebhooks` package
(an implementation independent of ours) and records the verified payloads."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


class WebhookReceiver:
    def __init__(self) -> None:
        self.secret: str | None = None
        self.received: list[dict[str, Any]] = []
        self.rejected = 0
        self.fail_next = 0  # answer 500 to this many deliveries first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver._receive(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def _receive(self, body: bytes, headers: dict[str, str]) -> int:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return 500
            try:
                payload = Webhook(self.secret).verify(body, headers)
            except Exception:
                self.rejected += 1
                return 400
            self.received.append(payload if isinstance(payload, dict) else json.loads(body))
            return 204

    def event_ids(self) -> set[str]:
        with self._lock:
            return {payload["id"] for payload in self.received}

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
