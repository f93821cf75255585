"""The one connection layer every pika client uses: a live node, reconnection with backoff, topology.

* ``Nodes``: RABBITMQ_URL's nodes (services/common/amqp.py) with one client's settings. A
  blocking connect tries them in a fresh random order and takes the first live one; an
  asynchronous client (the publisher's SelectConnection takes one node) asks for the next in turn.
* ``reconnecting``: runs one connection's lifetime again after the broker went away, with capped,
  jittered exponential backoff (tenacity), until a stop; a stop ends the wait at once.
* ``Backoff``: the same waits for a client that reconnects from callbacks (the publisher).
* ``declare_topology``: the exchanges and work queues a client needs; a queue another service
  declared with other arguments (another DELIVERY_LIMIT) is used as it is.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Sequence

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingConnection
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_never, wait_exponential_jitter

from services.common import amqp, topology

log = logging.getLogger(__name__)

FIRST_WAIT = 0.2  # seconds before the first reconnect (plus up to 1 s of jitter), doubling
MAX_WAIT = 5.0


class Nodes:
    def __init__(self, url: str, **settings: object) -> None:
        self._parameters = amqp.connection_parameters(url, **{"connection_attempts": 1, **settings})
        self._turn = 0

    def connect(self) -> BlockingConnection:
        """A blocking connection to the first live node, in a fresh random order (so a client does
        not keep trying a dead node first)."""
        return BlockingConnection(amqp.shuffled(self._parameters))

    def next(self) -> pika.URLParameters:
        """One node for an asynchronous connection: the next of the (shuffled) nodes in turn."""
        parameters = self._parameters[self._turn % len(self._parameters)]
        self._turn += 1
        return parameters


def backoff(max_wait: float = MAX_WAIT) -> wait_exponential_jitter:
    return wait_exponential_jitter(multiplier=FIRST_WAIT, max=max_wait)


class Backoff:
    """Successive reconnect waits for a callback-driven client; ``reset`` once connected."""

    def __init__(self, max_wait: float = MAX_WAIT) -> None:
        self._wait = backoff(max_wait)
        self._failures = 0

    def next(self) -> float:
        self._failures += 1
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = self._failures
        return float(self._wait(state))

    def reset(self) -> None:
        self._failures = 0


def reconnecting(session: Callable[[], None], stopping: threading.Event, *, what: str,
                 retry_on: type[BaseException] | tuple[type[BaseException], ...] = pika.exceptions.AMQPConnectionError,
                 extra: dict[str, Any] | None = None, max_wait: float = MAX_WAIT) -> None:
    """Run ``session`` (one connection's lifetime, returning once ``stopping`` is set) and run it
    again, after a backoff, whenever it raises ``retry_on``; return at once on a stop."""
    def pause(seconds: float) -> None:
        stopping.wait(seconds)  # a stop ends the wait at once

    retrying = Retrying(
        retry=retry_if_exception_type(retry_on),
        wait=backoff(max_wait),
        stop=stop_never,
        sleep=pause,
        before_sleep=lambda state: log.warning(
            f"{what}: broker connection lost, reconnecting",
            extra={**(extra or {}), "error": repr(state.outcome.exception() if state.outcome else None),
                   "attempt": state.attempt_number}),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            if not stopping.is_set():
                session()
        if stopping.is_set():
            return


def declare_topology(connection: BlockingConnection, queues: Sequence[topology.QueueSpec], delivery_limit: int,
                     group_size: int | None = None) -> None:
    """The exchanges and these work queues (each with its dead-letter queue); a queue that exists
    with other arguments is used as it is (``topology.ensure_queue``)."""
    channel = connection.channel()
    topology.declare_exchanges(channel)
    channel.close()
    for spec in queues:
        topology.ensure_queue(connection, spec, delivery_limit, group_size)
