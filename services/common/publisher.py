"""A thread-safe publisher with publisher confirms, ``mandatory`` and reconnection.

pika connections are not thread-safe, so one background thread owns a
SelectConnection and every other thread hands it work through
``add_callback_threadsafe``. A SelectConnection lets many confirms be
outstanding at once (a BlockingConnection waits for each in turn), which is
what makes batched publishing fast.

``publish`` returns only when the broker confirmed every event; ``publish_async`` hands the events
over and returns at once, and its ``Pending.wait`` is that same wait, later (events handed over one
after another are sent in that order: one I/O thread, one channel). A nack raises
``Nacked``; a message the broker could not route raises ``Unroutable`` (unless
the caller passes ``allow_unroutable=True``: broadcast events nobody subscribed
to yet count as delivered); a broker that stays unreachable until the deadline raises ``BrokerUnavailable``.
A connection lost mid-batch is retried transparently: events keep their ids,
so a re-sent event is a duplicate consumers can drop.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Sequence

import pika
from pika.adapters.select_connection import IOLoop, SelectConnection
from pika.channel import Channel
from pika.spec import Basic, BasicProperties

from services.common import topology, tracing
from services.common.connection import Backoff, Nodes
from services.common.events import CONTENT_TYPE, CloudEvent, encode

log = logging.getLogger(__name__)

# Every event is persistent and published mandatory (the broker returns what no queue is bound for);
# services/common/asyncapi.py documents both from here.
DELIVERY_MODE = pika.DeliveryMode.Persistent
MANDATORY = True


class PublishError(Exception):
    """The broker did not take responsibility for an event."""


class Nacked(PublishError):
    pass


class Unroutable(PublishError):
    pass


class BrokerUnavailable(PublishError):
    pass


class Unencodable(PublishError):
    """An event cannot be sent at all (e.g. a lone surrogate, which UTF-8 cannot carry); nothing of its batch
    was sent."""


class _ConnectionLost(Exception):
    pass


def message_properties(event: CloudEvent, headers: dict | None = None) -> BasicProperties:
    """The AMQP properties every event is published with (persistent, id, type, trace)."""
    amqp_headers = dict(headers or {})
    if event.traceparent:
        amqp_headers["traceparent"] = event.traceparent
    return BasicProperties(
        content_type=CONTENT_TYPE,
        delivery_mode=DELIVERY_MODE,
        message_id=event.id,
        type=event.type,
        app_id=event.source,
        headers=amqp_headers or None,
    )


def _message(event: CloudEvent) -> tuple[str, bytes, BasicProperties]:
    """Routing key, body and properties, each checked to encode (pika would raise mid-publish otherwise)."""
    properties = message_properties(event)
    for text in (event.routing_key, properties.message_id, properties.type, properties.app_id,
                 *(str(value) for value in (properties.headers or {}).values())):
        text.encode("utf-8")
    return event.routing_key, encode(event), properties


@dataclass
class _Batch:
    events: Sequence[CloudEvent]
    unconfirmed: set[int]
    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None
    cancelled: bool = False
    allow_unroutable: bool = False
    confirmed_at: float | None = None  # time.time() when the broker confirmed the last of its events

    def fail(self, error: Exception) -> None:
        if self.error is None or isinstance(self.error, _ConnectionLost):
            self.error = error
        self.done.set()


class Pending:
    """One ``publish_async``: ``wait`` returns once the broker confirmed every event, or raises what
    ``publish`` would have; a second ``wait`` gives the same outcome without waiting again."""

    def __init__(self, publisher: "Publisher", batch: _Batch, deadline: float, timeout: float,
                 trace: ExitStack) -> None:
        self._publisher, self._batch, self._deadline, self._timeout = publisher, batch, deadline, timeout
        self._trace = trace
        self._outcome: PublishError | None = None
        self._settled = False

    @property
    def events(self) -> Sequence[CloudEvent]:
        return self._batch.events

    @property
    def confirmed_at(self) -> float | None:
        """When the broker confirmed the last event (wall clock), None until it did."""
        return self._batch.confirmed_at

    @property
    def answered(self) -> bool:
        """Has the broker answered every event (confirm or nack) or the connection failed? Never blocks."""
        return self._batch.done.is_set()

    def wait(self) -> None:
        if not self._settled:
            try:
                self._publisher._confirmed(self._batch, self._deadline, self._timeout)
            except PublishError as exc:
                self._outcome = exc
                self._trace.__exit__(type(exc), exc, exc.__traceback__)
            else:
                self._trace.close()
            self._settled = True
        if self._outcome is not None:
            raise self._outcome


class Publisher:
    def __init__(self, url: str, *, name: str = "publisher", reconnect_delay: float = 0.5) -> None:
        # A SelectConnection takes one node: each connect tries the next one of RABBITMQ_URL's (shuffled) nodes,
        # after a backoff (services/common/connection.py) once the broker went away.
        self._nodes = Nodes(url)
        self._backoff = Backoff()
        self._name = name
        self._reconnect_delay = reconnect_delay  # a caller's pause before re-sending after a lost connection
        self._ioloop = IOLoop()
        self._connection: SelectConnection | None = None
        self._channel: Channel | None = None
        self._ready = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        # Batches handed over by callers; one wake-up of the I/O thread drains all of them.
        self._outbox: list[_Batch] = []
        self._outbox_lock = threading.Lock()
        self._drain_scheduled = False
        # State below is touched only on the I/O thread.
        self._delivery_tag = 0
        self._inflight: dict[int, tuple[_Batch, int]] = {}
        self._returned: set[str] = set()
        self._waiting: list[_Batch] = []

    # -- caller side (any thread) -------------------------------------------

    def start(self) -> "Publisher":
        self._thread.start()
        return self

    @property
    def connected(self) -> bool:
        return self._ready.is_set() and self._thread.is_alive()

    def wait_connected(self, timeout: float) -> bool:
        return self._ready.wait(timeout) and self._thread.is_alive()

    def publish(self, events: Sequence[CloudEvent], *, timeout: float = 30.0, allow_unroutable: bool = False) -> None:
        """Publish and wait for every confirm; raise PublishError when the broker did not confirm.

        ``allow_unroutable``: an event no queue is bound for is confirmed-and-dropped
        by the broker; count it as delivered instead of raising ``Unroutable``.
        """
        if events:
            self.publish_async(events, timeout=timeout, allow_unroutable=allow_unroutable).wait()

    def publish_async(self, events: Sequence[CloudEvent], *, timeout: float = 30.0,
                      allow_unroutable: bool = False) -> "Pending":
        """Hand the events to the I/O thread and return at once; ``wait()`` on the result is ``publish``'s
        wait (the same errors, ``timeout`` counted from now). Lets a caller keep working while the
        confirms travel, and wait once for many publishes."""
        trace = ExitStack()  # a span per event, its context in the event's traceparent, ended at wait()
        traced = trace.enter_context(tracing.publishing(events))
        batch = _Batch(events=traced, unconfirmed=set(range(len(traced))), allow_unroutable=allow_unroutable)
        if traced:
            self._hand_over(batch)
        else:
            batch.done.set()
        return Pending(self, batch, time.monotonic() + timeout, timeout, trace)

    def _confirmed(self, batch: _Batch, deadline: float, timeout: float) -> None:
        """Wait for the handed-over batch's confirms; after a lost connection hand it over again (same ids)."""
        while True:
            remaining = deadline - time.monotonic()
            if not batch.done.wait(max(remaining, 0)):
                batch.cancelled = True
                raise BrokerUnavailable(f"no confirm from the broker within {timeout:.1f}s")
            if batch.error is None:
                return
            if not isinstance(batch.error, _ConnectionLost):
                raise batch.error
            if time.monotonic() + self._reconnect_delay >= deadline:
                batch.cancelled = True
                raise BrokerUnavailable(f"broker connection lost: {batch.error}")
            time.sleep(self._reconnect_delay)
            batch.done.clear()
            batch.error = None
            self._hand_over(batch)

    def _hand_over(self, batch: _Batch) -> None:
        # Waking the I/O thread is a syscall and a thread switch: under load, many
        # callers share one wake-up instead of paying one each.
        with self._outbox_lock:
            self._outbox.append(batch)
            wake, self._drain_scheduled = not self._drain_scheduled, True
        if wake:
            self._ioloop.add_callback_threadsafe(self._drain_outbox)

    def close(self, timeout: float = 5.0) -> None:
        self._closing = True
        if self._thread.is_alive():
            self._ioloop.add_callback_threadsafe(self._shutdown)
            self._thread.join(timeout)

    # -- I/O thread -----------------------------------------------------------

    def _run(self) -> None:
        self._connect()
        try:
            while True:
                try:
                    self._ioloop.start()
                    return  # stopped by close()
                except Exception:  # a bug in one callback must not end publishing for good
                    log.exception("publisher I/O loop failed; reconnecting", extra={"publisher": self._name})
                    self._restart()
        finally:
            self._ioloop.close()

    def _restart(self) -> None:
        """After an unexpected error: not ready, callers in flight retry, a fresh connection."""
        self._ready.clear()
        self._channel = None
        self._fail_inflight(_ConnectionLost("publisher I/O loop failed"))
        connection = self._connection
        if connection is not None and not (connection.is_closed or connection.is_closing):
            try:
                connection.close()  # its close callback (_on_connection_down) reconnects
                return
            except Exception:  # the old connection is abandoned either way
                log.warning("publisher: closing the failed connection failed", exc_info=True)
        self._ioloop.call_later(self._backoff.next(), self._connect)

    def _connect(self) -> None:
        if self._closing:
            return
        self._connection = SelectConnection(
            self._nodes.next(),
            on_open_callback=lambda conn: conn.channel(on_open_callback=self._on_channel_open),
            on_open_error_callback=self._on_connection_down,
            on_close_callback=self._on_connection_down,
            custom_ioloop=self._ioloop,
        )

    def _on_connection_down(self, _connection: SelectConnection, reason: object) -> None:
        self._ready.clear()
        self._channel = None
        self._fail_inflight(_ConnectionLost(str(reason)))
        if self._closing:
            self._ioloop.stop()
            return
        delay = self._backoff.next()
        log.warning("broker connection down, reconnecting", extra={"publisher": self._name, "reason": str(reason),
                                                                    "retry_in_seconds": round(delay, 2)})
        self._ioloop.call_later(delay, self._connect)

    def _on_channel_open(self, channel: Channel) -> None:
        self._channel = channel
        self._delivery_tag = 0
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(self._on_confirm, callback=lambda _frame: self._declare_exchanges(channel))

    def _declare_exchanges(self, channel: Channel, remaining: tuple[tuple[str, str], ...] = topology.EXCHANGES) -> None:
        """Each exchange in turn (asynchronously: each declare's callback declares the next), then ready."""
        if not remaining:
            self._on_ready()
            return
        (name, kind), rest = remaining[0], remaining[1:]
        channel.exchange_declare(name, exchange_type=kind, durable=True,
                                 callback=lambda _frame: self._declare_exchanges(channel, rest))

    def _on_ready(self) -> None:
        self._backoff.reset()
        self._ready.set()
        log.info("publisher connected", extra={"publisher": self._name})
        waiting, self._waiting = self._waiting, []
        for batch in waiting:
            self._send(batch)

    def _on_channel_closed(self, _channel: Channel, reason: object) -> None:
        self._ready.clear()
        self._channel = None
        self._fail_inflight(_ConnectionLost(f"channel closed: {reason}"))
        if self._connection is not None and self._connection.is_open and not self._closing:
            self._connection.channel(on_open_callback=self._on_channel_open)

    def _drain_outbox(self) -> None:
        with self._outbox_lock:
            batches, self._outbox, self._drain_scheduled = self._outbox, [], False
        for batch in batches:
            self._send(batch)

    def _send(self, batch: _Batch) -> None:
        if batch.cancelled:
            return
        if self._channel is None or not self._ready.is_set():
            self._waiting.append(batch)
            return
        # Everything of the batch is encoded before anything is sent: a hostile event fails its own
        # batch (its caller gets Unencodable) and nothing else; the I/O thread carries on.
        try:
            messages = [(index, _message(batch.events[index])) for index in sorted(batch.unconfirmed)]
        except Exception as exc:  # noqa: BLE001 - whatever the event holds, only this batch fails
            batch.fail(Unencodable(f"event cannot be encoded: {exc!r}"))
            return
        for index, (routing_key, body, properties) in messages:
            try:
                self._channel.basic_publish(topology.EXCHANGE, routing_key, body, properties=properties,
                                            mandatory=MANDATORY)
            except Exception as exc:  # noqa: BLE001 - e.g. the channel closed under us: fail this batch only
                batch.fail(PublishError(f"publish failed: {exc!r}"))
                return
            self._delivery_tag += 1
            self._inflight[self._delivery_tag] = (batch, index)

    def _on_return(self, _channel: Channel, _method: Basic.Return, properties: BasicProperties, _body: bytes) -> None:
        # A Basic.Return always arrives before the confirm of the same message.
        self._returned.add(properties.message_id)

    def _on_confirm(self, frame: pika.frame.Method) -> None:
        method = frame.method
        tags = [t for t in self._inflight if t <= method.delivery_tag] if method.multiple else [method.delivery_tag]
        for tag in tags:
            entry = self._inflight.pop(tag, None)
            if entry is None:
                continue
            batch, index = entry
            event = batch.events[index]
            if isinstance(method, Basic.Nack):
                batch.fail(Nacked(f"broker nacked event {event.id} ({event.type})"))
            elif event.id in self._returned and not batch.allow_unroutable:
                self._returned.discard(event.id)
                batch.fail(Unroutable(f"no queue is bound for {event.type!r}; event {event.id} was returned"))
            else:
                if event.id in self._returned:
                    self._returned.discard(event.id)
                    log.debug("no queue bound; event dropped", extra={"event_id": event.id, "type": event.type})
                batch.unconfirmed.discard(index)
                if not batch.unconfirmed and batch.error is None:
                    batch.confirmed_at = time.time()
                    batch.done.set()

    def _fail_inflight(self, error: Exception) -> None:
        batches = {id(batch): batch for batch, _ in self._inflight.values()}
        self._inflight.clear()
        self._returned.clear()
        for batch in batches.values():
            batch.fail(error)

    def _shutdown(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
        else:
            self._ioloop.stop()
