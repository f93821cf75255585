"""A consumer with manual acks, prefetch, worker threads, reconnection and graceful stop.

The acknowledgement policy is decided here, once, for every service. A handler takes a batch
of messages (``Delivery``, or what the service's ``decode`` made of each: ``Received`` for
CloudEvents, services/common/delivery.py) and returns one outcome per message
(services/common/outcomes.py): ``ACK``, ``DeadLetter(reason)`` (to the queue's dead-letter
queue with the reason in a header, then acked) or ``RetryLater`` (nack with requeue; the
queue's ``x-delivery-limit`` bounds the retries). How errors, outages and the last allowed
delivery become outcomes is services/common/handling.py; how outcomes become acks,
services/common/settlement.py.

On a stop no new deliveries are taken, running work finishes (bounded by ``stop_timeout``), and
what was prefetched but not started goes back to the queue unacked when the connection closes.

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
from typing import Sequence

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import Basic, BasicProperties

from services.common import settlement, topology, tracing
from services.common.connection import Nodes, declare_topology, reconnecting
from services.common.delivery import Delivery, Received, received
from services.common.handling import BatchHandler, Decode, GiveUp, Handling, Transient, never_transient, raw
from services.common.outcomes import ACK, Ack, DeadLetter, Outcome, RetryLater, one_at_a_time
from services.common.settlement import Job
from services.common.topology import QueueSpec

# Names a handler's module imports from here (stable for every service).
__all__ = ["ACK", "Ack", "BatchHandler", "Consumer", "DeadLetter", "Decode", "Delivery", "GiveUp", "Outcome",
           "Received", "RetryLater", "Transient", "never_transient", "one_at_a_time", "raw", "received"]

log = logging.getLogger(__name__)

# How often the connection thread looks up from the socket when nothing happens (a stop, a due flush).
TICK = 0.05


class Consumer:
    def __init__(
        self,
        url: str,
        queue: QueueSpec,
        handler: BatchHandler,
        *,
        decode: Decode = raw,
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
        self._nodes = Nodes(url, heartbeat=heartbeat)
        self._queue = queue
        self._delivery_limit = delivery_limit
        self._group_size = quorum_group_size
        self._prefetch = max(prefetch, batch_size)
        self._batch_size = batch_size
        self._workers = workers
        self._others = tuple(spec for spec in dict.fromkeys((*declare, *topology.WORK_QUEUES)) if spec != queue)
        self._stop_timeout = stop_timeout
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{queue.name}-worker")
        self._stopping = threading.Event()
        self._handling = Handling(queue.name, handler, self._stopping, delivery_limit, decode=decode,
                                  transient=transient, give_up=give_up, max_backoff=max_backoff)
        self._consuming = threading.Event()
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
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

    def last_delivery(self, delivery: Delivery) -> bool:
        """Is this the last delivery the queue's limit allows (the broker dead-letters the next)?"""
        return self._handling.last_delivery(delivery)

    def run(self) -> None:
        """Consume until ``stop``; reconnect with backoff whenever the broker goes away."""
        try:
            reconnecting(self._consume_once, self._stopping, what="consumer", extra={"queue": self._queue.name})
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)

    # -- one connection's lifetime ------------------------------------------------

    def _consume_once(self) -> None:
        connection = self._nodes.connect()
        try:
            channel = connection.channel()
            topology.declare_queue(channel, self._queue, self._delivery_limit, self._group_size)
            declare_topology(connection, self._others, self._delivery_limit, self._group_size)
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
        fresh: list[Job] = []
        with self._lock:
            epoch = self._epoch
            for tag, delivery in pending:
                key = delivery.message_id or f"tag-{epoch}-{tag}"
                job = self._jobs.get(key)
                if job is not None:  # already being handled here: ack this copy with it
                    job.copies.append((epoch, tag, delivery))
                    continue
                job = Job(key=key, copies=[(epoch, tag, delivery)])
                self._jobs[key] = job
                fresh.append(job)
            if fresh:
                self._running += 1
        if fresh:
            self._pool.submit(self._work, fresh)

    # -- worker threads -----------------------------------------------------------

    def _work(self, jobs: list[Job]) -> None:
        if self._stopping.is_set():
            self._release(jobs)  # not started before the stop: not handled (see _drain)
            return
        try:
            deliveries = [job.delivery for job in jobs]
            with tracing.consuming(self._queue.name, deliveries):  # continues each message's trace
                outcomes = self._handling.outcomes(deliveries)
        except Exception:  # a bug outside the handler (e.g. in a decoder): the messages must still be settled
            log.exception("handling failed; messages will be redelivered", extra={"queue": self._queue.name})
            outcomes = [RetryLater("handling failed")] * len(jobs)
        if outcomes is None:
            self._release(jobs)
            return
        self._settle(jobs, outcomes)

    def _release(self, jobs: list[Job]) -> None:
        """Forget these jobs without ack or nack: the broker gets them back when the connection closes,
        as it does the prefetched messages no job started (each return counts one delivery on the
        RabbitMQ 3.10 broker used here, as a stop always did; the outage itself counted none)."""
        with self._lock:
            self._running -= 1
            for job in jobs:
                self._jobs.pop(job.key, None)

    def _settle(self, jobs: list[Job], outcomes: Sequence[Outcome]) -> None:
        with self._lock:
            self._running -= 1  # the callback below wakes the connection thread to hand over the next batch
            for job in jobs:
                self._jobs.pop(job.key, None)
            connection, epoch = self._connection, self._epoch
            if connection is not None:
                self._settling += 1
        if connection is None:
            return  # the connection these came on is gone; the broker redelivers them
        callback = functools.partial(self._settle_on_connection, epoch, jobs, list(outcomes))
        try:
            connection.add_callback_threadsafe(callback)
        except pika.exceptions.AMQPError:
            self._settled(epoch)

    def _settled(self, epoch: int) -> None:
        with self._lock:
            if epoch == self._epoch:
                self._settling = max(self._settling - 1, 0)

    def _settle_on_connection(self, epoch: int, jobs: list[Job], outcomes: list[Outcome]) -> None:
        try:
            channel = self._channel
            if channel is None or epoch != self._epoch or not channel.is_open:
                return
            for job, outcome in zip(jobs, outcomes):
                settlement.settle(channel, self._queue, job, outcome, epoch)
        finally:
            self._settled(epoch)
