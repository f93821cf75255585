"""A consumer with manual acks, prefetch, worker threads, reconnection and graceful stop.

The acknowledgement policy is decided here, once, for every service:

* the handler returns normally            -> ack (its effect is durable by then);
* the handler raises ``Rejected``         -> the message is published, with the
  (services.common.rejection)                reason in a header, to the queue's dead-letter queue, then acked
  (a batch handler returns the reason for that message instead);
* the handler raises an error the service classifies as ``transient`` (MongoDB
  unreachable: ``services.common.mongo.transient``) -> the handler is called
  again with capped, jittered exponential backoff while the messages stay
  unacked (held, not requeued): an outage of minutes burns no delivery limit.
  On a stop the retries end at once and the messages go back to the queue
  unacked when the connection closes (neither nacked nor dead-lettered);
* the handler raises anything else        -> nack with requeue; the queue's
  ``x-delivery-limit`` bounds the retries, then the broker dead-letters it.
  On the last delivery the limit allows, a service's ``give_up`` (if given)
  decides instead: end the work visibly and ack (None), or dead-letter with a
  reason; the delivery limit is counted here, not in handlers.

The connection's thread only does I/O: handlers run in a thread pool, and
their acks are handed back with ``add_callback_threadsafe``, so long work
never starves heartbeats (pika connections are not thread-safe).

Deliveries are handed to the handler in batches of up to ``batch_size``
(one, unless asked). A redelivered message whose id is already being handled
in this process is not handled twice: its new delivery tag is attached to the
running job and acked when that job ends.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import Basic, BasicProperties
from tenacity import (Retrying, retry_if_exception, retry_if_exception_type, stop_never, stop_when_event_set,
                      wait_exponential_jitter)

from services.common import amqp, topology, tracing
from services.common.rejection import Rejected
from services.common.topology import QueueSpec

log = logging.getLogger(__name__)

# How often the connection thread looks up from the socket when nothing happens (a stop, a due flush).
TICK = 0.05


@dataclass(frozen=True)
class Delivery:
    body: bytes
    properties: BasicProperties
    routing_key: str
    redelivered: bool

    @property
    def message_id(self) -> str | None:
        return self.properties.message_id

    @property
    def delivery_count(self) -> int:
        # The first delivery through basic_consume has no header at all.
        headers = self.properties.headers or {}
        return int(headers.get("x-delivery-count", 0))


# A batch handler returns, for each delivery, None (done: ack) or a poison reason.
BatchHandler = Callable[[Sequence[Delivery]], Sequence[str | None]]
Handler = Callable[[Delivery], None]
# Whether an error the handler raised is worth waiting out (the messages are held meanwhile).
Transient = Callable[[BaseException], bool]
# A message whose last allowed delivery failed with this error: None (ended visibly: ack) or a dead-letter reason.
GiveUp = Callable[[Delivery, BaseException], str | None]


def never_transient(_error: BaseException) -> bool:
    return False


def one_at_a_time(handler: Handler) -> BatchHandler:
    """Adapt a per-message handler that raises ``Rejected`` (dead-letter, with its reason) into a batch handler."""

    def handle(deliveries: Sequence[Delivery]) -> list[str | None]:
        outcomes: list[str | None] = []
        for delivery in deliveries:
            try:
                handler(delivery)
                outcomes.append(None)
            except Rejected as rejected:
                outcomes.append(rejected.reason)
        return outcomes

    return handle


@dataclass
class _Job:
    key: str
    # (connection epoch, delivery tag, delivery) of every copy of this message we hold.
    copies: list[tuple[int, int, Delivery]] = field(default_factory=list)


class Consumer:
    def __init__(
        self,
        url: str,
        queue: QueueSpec,
        handler: BatchHandler,
        *,
        delivery_limit: int = 20,
        prefetch: int = 50,
        workers: int = 8,
        batch_size: int = 1,
        declare: Sequence[QueueSpec] = (),
        heartbeat: int = 30,
        stop_timeout: float = 30.0,
        transient: Transient = never_transient,
        give_up: GiveUp | None = None,
        max_backoff: float = 5.0,
        quorum_group_size: int | None = None,
    ) -> None:
        self._parameters = amqp.connection_parameters(url, heartbeat=heartbeat, connection_attempts=1)
        self._queue = queue
        self._handler = handler
        self._delivery_limit = delivery_limit
        self._group_size = quorum_group_size
        self._prefetch = max(prefetch, batch_size)
        self._batch_size = batch_size
        self._workers = workers
        self._others = tuple(spec for spec in dict.fromkeys((*declare, *topology.WORK_QUEUES)) if spec != queue)
        self._stop_timeout = stop_timeout
        self._transient = transient
        self._give_up = give_up
        self._max_backoff = max_backoff
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{queue.name}-worker")
        self._stopping = threading.Event()
        self._consuming = threading.Event()
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._settling = 0  # finished jobs whose ack/nack is queued for the connection thread
        self._pending: list[tuple[int, Delivery]] = []
        self._running = 0  # batches handed to the workers and not yet settled or released
        self._epoch = 0
        self._connection: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    @property
    def consuming(self) -> bool:
        """True while connected and consuming (readiness)."""
        return self._consuming.is_set()

    def stop(self) -> None:
        """Ask ``run`` to stop: no new deliveries, finish in-flight work (bounded), close. Signal-safe."""
        self._stopping.set()

    def run(self) -> None:
        """Consume until ``stop``; reconnect with backoff whenever the broker goes away."""
        retrying = Retrying(
            retry=retry_if_exception_type(pika.exceptions.AMQPConnectionError),
            wait=wait_exponential_jitter(multiplier=0.2, max=5.0),
            stop=stop_never,
            sleep=self._wait_unless_stopping,  # a stop while the broker is gone ends the backoff at once
            before_sleep=lambda state: log.warning(
                "broker connection lost, reconnecting",
                extra={"queue": self._queue.name, "error": repr(state.outcome.exception() if state.outcome else None),
                       "attempt": state.attempt_number}),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if not self._stopping.is_set():
                        self._consume_once()
                if self._stopping.is_set():
                    break
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _wait_unless_stopping(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    # -- one connection's lifetime ------------------------------------------------

    def _consume_once(self) -> None:
        connection = BlockingConnection(amqp.shuffled(self._parameters))  # the first live node
        try:
            channel = connection.channel()
            topology.declare_queue(channel, self._queue, self._delivery_limit, self._group_size)
            for spec in self._others:
                topology.ensure_queue(connection, spec, self._delivery_limit, self._group_size)
            channel.basic_qos(prefetch_count=self._prefetch)
            channel.confirm_delivery()  # dead-letter copies are confirmed before the original is acked
            consumer_tag = channel.basic_consume(self._queue.name, self._on_message)
            with self._lock:
                self._epoch += 1
                self._settling = 0  # acks queued for an earlier connection can no longer run
                self._connection, self._channel = connection, channel
                self._pending.clear()
            self._consuming.set()
            log.info("consuming", extra={"queue": self._queue.name})
            while not self._stopping.is_set():
                # returns as soon as a message or a worker's settle callback was dispatched
                connection.process_data_events(time_limit=TICK)
                self._flush_if_due()
            self._drain(connection, channel, consumer_tag)
        finally:
            self._consuming.clear()
            with self._lock:
                self._connection = self._channel = None
            if connection.is_open:
                try:
                    connection.close()
                except pika.exceptions.AMQPError:
                    pass

    def _drain(self, connection: BlockingConnection, channel: BlockingChannel, consumer_tag: str) -> None:
        """Graceful stop: no new deliveries, wait (bounded) for running jobs to ack.

        Prefetched messages that no job started are not handled; they return
        to the queue when the connection closes.
        """
        channel.basic_cancel(consumer_tag)
        self._pending.clear()
        deadline = time.monotonic() + self._stop_timeout
        # A job leaves _jobs before its ack runs on this thread: wait for both, or the ack is lost.
        while (self._jobs or self._settling) and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.1)
        if self._jobs:
            log.warning("stopping with unfinished work; it will be redelivered",
                        extra={"queue": self._queue.name, "jobs": len(self._jobs)})

    def _on_message(self, _channel: BlockingChannel, method: Basic.Deliver,
                    properties: BasicProperties, body: bytes) -> None:
        if self._stopping.is_set():
            return  # stopping: not started, left unacked; it returns to the queue when the connection closes
        delivery = Delivery(body=body, properties=properties, routing_key=method.routing_key,
                            redelivered=method.redelivered)
        self._pending.append((method.delivery_tag, delivery))
        if len(self._pending) >= self._batch_size:
            self._flush()

    def _flush_if_due(self) -> None:
        """Natural batching: a batch is what arrived while the workers were busy, handed over as soon as
        one is free (one message when idle, up to ``batch_size`` under load); no fixed linger."""
        if self._pending and self._running < self._workers:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        fresh: list[_Job] = []
        with self._lock:
            epoch = self._epoch
            for tag, delivery in pending:
                key = delivery.message_id or f"tag-{epoch}-{tag}"
                job = self._jobs.get(key)
                if job is not None:  # already being handled here: ack this copy with it
                    job.copies.append((epoch, tag, delivery))
                    continue
                job = _Job(key=key, copies=[(epoch, tag, delivery)])
                self._jobs[key] = job
                fresh.append(job)
            if fresh:
                self._running += 1
        if fresh:
            self._pool.submit(self._work, fresh)

    # -- worker threads -----------------------------------------------------------

    def _work(self, jobs: list[_Job]) -> None:
        if self._stopping.is_set():
            self._release(jobs)  # not started before the stop: not handled (see _drain)
            return
        deliveries = [job.copies[0][2] for job in jobs]
        try:
            with tracing.consuming(self._queue.name, deliveries):  # continues each message's trace
                outcomes = self._handle_waiting_out(deliveries)
        except Exception as error:
            if self._stopping.is_set() and self._transient(error):
                log.warning("stopping during an outage; the messages go back to the queue unacked",
                            extra={"queue": self._queue.name, "messages": len(jobs), "error": repr(error)})
                self._release(jobs)
                return
            if self._give_up is not None and all(self.last_delivery(job.copies[0][2]) for job in jobs):
                given_up = self._given_up(jobs, error)
                if given_up is not None:
                    self._settle(jobs, given_up, requeue=False)
                    return
            log.exception("handler failed; messages will be redelivered", extra={"queue": self._queue.name})
            self._settle(jobs, [None] * len(jobs), requeue=True)
            return
        self._settle(jobs, outcomes, requeue=False)

    def last_delivery(self, delivery: Delivery) -> bool:
        """Is this the last delivery the queue's limit allows (the broker dead-letters the next)?"""
        return delivery.delivery_count >= self._delivery_limit

    def _given_up(self, jobs: list[_Job], error: BaseException) -> list[str | None] | None:
        """The service's verdict on each message of a batch that failed on its last delivery;
        None if ``give_up`` itself failed (then the batch is requeued, as without it)."""
        assert self._give_up is not None
        try:
            return [self._give_up(job.copies[0][2], error) for job in jobs]
        except Exception:
            log.exception("giving up failed; the messages will be redelivered", extra={"queue": self._queue.name})
            return None

    def _handle_waiting_out(self, deliveries: list[Delivery]) -> list[str | None]:
        """The handler's outcomes; a transient error calls it again after a backoff, until a stop."""
        retrying = Retrying(
            retry=retry_if_exception(self._transient),
            wait=wait_exponential_jitter(multiplier=0.2, max=self._max_backoff),
            stop=stop_when_event_set(self._stopping),
            sleep=self._wait_unless_stopping,  # a stop ends the wait at once
            before_sleep=lambda state: log.warning(
                "handler hit a transient error; holding the messages and retrying",
                extra={"queue": self._queue.name, "messages": len(deliveries),
                       "error": repr(state.outcome.exception() if state.outcome else None),
                       "attempt": state.attempt_number}),
            reraise=True,
        )
        last: BaseException | None = None
        for attempt in retrying:
            with attempt:
                if last is not None and self._stopping.is_set():
                    raise last  # the stop came during the wait: no further attempt
                try:
                    outcomes = list(self._handler(deliveries))
                except Exception as error:
                    last = error
                    raise
                if len(outcomes) != len(deliveries):
                    raise RuntimeError(f"handler returned {len(outcomes)} outcomes for {len(deliveries)} messages")
                return outcomes
        raise AssertionError("unreachable")  # pragma: no cover - reraise=True: the loop returns or raises

    def _release(self, jobs: list[_Job]) -> None:
        """Forget these jobs without ack or nack: the broker gets them back when the connection closes,
        as it does the prefetched messages no job started (each return counts one delivery on the
        RabbitMQ 3.10 broker used here, as a stop always did; the outage itself counted none)."""
        with self._lock:
            self._running -= 1
            for job in jobs:
                self._jobs.pop(job.key, None)

    def _settle(self, jobs: list[_Job], outcomes: Sequence[str | None], requeue: bool) -> None:
        with self._lock:
            self._running -= 1  # the callback below wakes the connection thread to hand over the next batch
            for job in jobs:
                self._jobs.pop(job.key, None)
            connection, epoch = self._connection, self._epoch
            if connection is not None:
                self._settling += 1
        if connection is None:
            return  # the connection these came on is gone; the broker redelivers them
        callback = functools.partial(self._settle_on_connection, epoch, jobs, list(outcomes), requeue)
        try:
            connection.add_callback_threadsafe(callback)
        except pika.exceptions.AMQPError:
            self._settled(epoch)

    def _settled(self, epoch: int) -> None:
        with self._lock:
            if epoch == self._epoch:
                self._settling = max(self._settling - 1, 0)

    def _settle_on_connection(self, epoch: int, jobs: list[_Job], outcomes: list[str | None], requeue: bool) -> None:
        try:
            self._settle_now(epoch, jobs, outcomes, requeue)
        finally:
            self._settled(epoch)

    def _settle_now(self, epoch: int, jobs: list[_Job], outcomes: list[str | None], requeue: bool) -> None:
        channel = self._channel
        if channel is None or epoch != self._epoch or not channel.is_open:
            return
        for job, reason in zip(jobs, outcomes):
            tags = [tag for copy_epoch, tag, _ in job.copies if copy_epoch == epoch]
            if requeue:
                for tag in tags:
                    channel.basic_nack(tag, requeue=True)
                continue
            if reason is not None:
                self._dead_letter(channel, job.copies[0][2], reason)
            for tag in tags:
                channel.basic_ack(tag)

    def _dead_letter(self, channel: BlockingChannel, delivery: Delivery, reason: str) -> None:
        log.error("poison message dead-lettered",
                  extra={"queue": self._queue.name, "message_id": delivery.message_id, "reason": reason})
        headers = dict(delivery.properties.headers or {})
        headers[topology.REJECTION_REASON_HEADER] = reason[:1000]
        headers["x-original-routing-key"] = delivery.routing_key
        props = delivery.properties
        properties = BasicProperties(
            content_type=props.content_type, delivery_mode=pika.DeliveryMode.Persistent,
            message_id=props.message_id, type=props.type, app_id=props.app_id, headers=headers,
        )
        # Straight into this queue's dead-letter queue (default exchange), before the ack.
        channel.basic_publish("", self._queue.dead_letter_queue, delivery.body, properties)
