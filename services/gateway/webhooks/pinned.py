"""An HTTP POST to a checked webhook target at the address that was checked (services/gateway/webhooks/targets.py).

The request goes to the pinned IP; the ``Host`` header, and for https the TLS server name and the
certificate check, use the target's host name, so the receiver sees an ordinary request for its
name while no DNS lookup happens after the check.

A hostile receiver cannot hold the sender: one deadline covers the whole attempt (connect, TLS,
request, status line, headers and body; a watchdog shuts the socket down when it passes, so a
receiver dripping a byte a second is cut off), and at most ``body_cap`` bytes of the answer are read
before the connection is dropped (an endless 200 body costs a few KiB, not a thread and memory).
"""
from __future__ import annotations

import http.client
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Mapping

from services.common.watchdog import Watchdog, shutdown_socket
from services.gateway.webhooks.targets import Target

BODY_CAP_BYTES = 64 * 1024
_WATCHDOG = Watchdog()


class DeadlineExceeded(OSError):
    """The attempt's deadline passed before the receiver's answer (status and headers) was complete."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    body_bytes: int  # read (at most the cap); the rest, if any, was never read
    retry_after: str | None = None  # the Retry-After header, as sent


class _Connection(http.client.HTTPConnection):
    """Connects to the pinned address; TLS (for https) with the target's host name."""

    def __init__(self, target: Target, address: str, timeout: float) -> None:
        super().__init__(address, target.port, timeout=timeout)
        self._target = target

    def connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), self.timeout)
        if self._target.scheme == "https":
            # The handshake after the assignment: the watchdog can shut this socket down during it.
            self.sock = ssl.create_default_context().wrap_socket(
                self.sock, server_hostname=self._target.host, do_handshake_on_connect=False)
            self.sock.do_handshake()


def _shut(connection: _Connection, expired: threading.Event) -> None:
    expired.set()
    sock = connection.sock
    if sock is not None:
        shutdown_socket(sock)  # unblocks a read in the attempt's thread


def post_pinned(target: Target, address: str, body: bytes, headers: Mapping[str, str], *,
                deadline: float, body_cap: int = BODY_CAP_BYTES) -> Answer:
    """POST ``body`` to ``target`` at ``address`` within ``deadline`` seconds; redirects are never followed.

    Raises ``OSError`` (``DeadlineExceeded`` past the deadline) or ``http.client.HTTPException``
    when no status was received.
    """
    connection = _Connection(target, address, timeout=deadline)
    expired = threading.Event()
    token = _WATCHDOG.arm(deadline, lambda: _shut(connection, expired))
    try:
        connection.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
        for name, value in {**headers, "Host": target.host_header, "Content-Length": str(len(body)),
                            "Connection": "close"}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        read = 0
        try:
            while read < body_cap:
                chunk = response.read1(body_cap - read)
                if not chunk:
                    break
                read += len(chunk)
        except (OSError, http.client.HTTPException):
            pass  # the status is the answer; a broken or dripping body after it does not matter
        return Answer(response.status, read, response.getheader("Retry-After"))
    except (OSError, http.client.HTTPException):
        if expired.is_set():
            raise DeadlineExceeded(f"no answer within the {deadline:g} s deadline") from None
        raise
    finally:
        _WATCHDOG.disarm(token)
        connection.close()
