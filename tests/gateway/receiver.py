"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records what it is sent."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Answers 500 to the first ``fail_first`` requests (or to all, with ``always_fail``), then 204."""

    def __init__(self, fail_first: int = 0, always_fail: bool = False) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.attempts = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.attempts += 1
                    failing = always_fail or receiver.attempts <= fail_first
                    if not failing:
                        receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def count(self) -> int:
        with self._lock:
            return len(self.received)
