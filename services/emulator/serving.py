"""The emulator's request handler: werkzeug's, quiet, and with HTTP/1.1 keep-alive.

werkzeug's handler answers every response with ``Connection: close``: its comment says Python's
http.server cannot drain a request body the app left unread before reading the next request line.
Here the body is read whole before the app runs (the API's bodies are small JSON), so nothing is
left unread and the connection can stay open for the client's next request, as the real API's do.
werkzeug's ``run_wsgi`` also discards whatever is readable after the answer (safe only on a closing
connection: it would eat the next request); it reads ``self.rfile``, which is empty while it runs.
Without it every model API request of the runner opened a new TCP connection (BENCHMARKS.md).
"""
from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

from werkzeug.serving import WSGIRequestHandler

MAX_BUFFERED_BODY = 8 * 1024 * 1024  # larger (or chunked) bodies: the connection closes after the answer
IDLE_TIMEOUT_SECONDS = 75.0  # an idle kept-alive connection is closed after this (and so is its thread)


class KeepAliveHandler(WSGIRequestHandler):
    """No access log line per request (hundreds of polls per second); errors still go to the log."""

    timeout = IDLE_TIMEOUT_SECONDS  # socketserver's per-connection socket timeout
    # TCP_NODELAY: the headers and the body leave in separate writes; with Nagle's algorithm the body
    # would wait for the client's delayed ACK of the headers (~40 ms a request on a reused connection)
    disable_nagle_algorithm = True
    _keep_alive = False
    _connection_rfile: io.BufferedIOBase | None = None

    def run_wsgi(self) -> None:
        try:
            super().run_wsgi()
        finally:  # the next request is read from the connection again
            if self._connection_rfile is not None:
                self.rfile, self._connection_rfile = self._connection_rfile, None

    def make_environ(self) -> WSGIEnvironment:
        environ = super().make_environ()
        self._keep_alive = False
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return environ
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return environ
        if 0 <= length <= MAX_BUFFERED_BODY:
            environ["wsgi.input"] = io.BytesIO(self.rfile.read(length) if length else b"")
            self._connection_rfile, self.rfile = self.rfile, io.BytesIO()
            self._keep_alive = True
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if self._keep_alive and keyword.lower() == "connection" and value.lower() == "close":
            return  # the body was drained: the connection may serve the next request (unless the client closes)
        super().send_header(keyword, value)

    def log_request(self, *args: object, **kwargs: object) -> None:
        pass

    def log_error(self, message: str, *args: object) -> None:
        if not message.startswith("Request timed out"):  # an idle kept-alive connection closing is no error
            super().log_error(message, *args)
