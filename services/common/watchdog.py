"""Deadlines on blocking socket work: one watchdog thread runs each due action (not a timer thread per
deadline: a runner holds up to RUNNER_CONCURRENCY streams, a deliverer dozens of attempts at once),
and ``shutdown_socket`` wakes a thread blocked reading a socket."""
from __future__ import annotations

import heapq
import itertools
import logging
import socket
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


class Watchdog:
    """One thread that runs actions at their deadline, unless disarmed first."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._due: list[tuple[float, int]] = []  # (time.monotonic() deadline, token), a heap
        self._actions: dict[int, Callable[[], None]] = {}
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, action: Callable[[], None]) -> int:
        """Run ``action`` (on the watchdog's thread) in ``seconds`` unless disarmed first."""
        with self._condition:
            token = next(self._tokens)
            self._actions[token] = action
            heapq.heappush(self._due, (time.monotonic() + max(seconds, 0.0), token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
                self._thread.start()
            self._condition.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._condition:
            self._actions.pop(token, None)
            if len(self._due) > 2 * len(self._actions) + 64:  # most work ends long before its deadline
                self._due = [entry for entry in self._due if entry[1] in self._actions]
                heapq.heapify(self._due)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._due or self._due[0][0] > time.monotonic():
                    # bounded: a deadline days away must not overflow the lock's timeout
                    self._condition.wait(min(self._due[0][0] - time.monotonic(), 3600.0) if self._due else None)
                _at, token = heapq.heappop(self._due)
                action = self._actions.pop(token, None)
            if action is not None:
                try:
                    action()
                except Exception:  # one failed action must not stop the watchdog for every other deadline
                    log.exception("a watchdog action failed")


def shutdown_socket(sock: socket.socket) -> None:
    """Wake a thread blocked in recv() on ``sock``: shutdown, not close (close() does not wake it on
    Linux), and the base class's method, since SSLSocket.shutdown drops its SSL object under the
    reading thread. Already closed: nothing to do."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass
