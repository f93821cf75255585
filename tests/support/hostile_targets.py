"""Hostile webhook subscribers for tests: raw TCP servers on 127.0.0.1 that misbehave on purpose.

* ``drip``: answers one byte of a 200 status line every ``interval`` seconds until the test ends;
* ``endless``: answers 200 at once, then a chunked body that never ends;
* ``black_hole``: accepts, reads the request and never answers.

Each counts the connections it accepted and the ones that ended (the sender closed or dropped them).
"""
from __future__ import annotations

import socket
import threading
from typing import Callable

CHUNK = b"x" * 16384


class HostileTarget:
    def __init__(self, behaviour: str, interval: float = 0.5) -> None:
        self._serve: Callable[[socket.socket], None] = getattr(self, f"_{behaviour}")
        self._interval = interval
        self._lock = threading.Lock()
        self.accepted = 0
        self.ended = 0  # connections whose sender went away (closed, reset) while we were answering
        self.bytes_sent = 0
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/hooks"

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self.accepted, self.ended

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                self.accepted += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(None)
            conn.recv(65536)  # the request (headers and a small body)
            self._serve(conn)
        except OSError:
            with self._lock:
                self.ended += 1
        finally:
            conn.close()

    def _send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with self._lock:
            self.bytes_sent += len(data)

    def _drip(self, conn: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 10_000:
            self._send(conn, bytes([byte]))
            if self._stopping.wait(self._interval):  # the pace is the behaviour; the test's end stops it
                break
        raise OSError("stopped")

    def _endless(self, conn: socket.socket) -> None:
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
        while not self._stopping.is_set():
            self._send(conn, chunk)
        raise OSError("stopped")

    def _black_hole(self, conn: socket.socket) -> None:
        while not self._stopping.is_set():
            if conn.recv(65536) == b"":
                raise OSError("closed by the sender")

    def __enter__(self) -> "HostileTarget":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._listener.close()
