"""Outcomes turned into acks on the connection's thread: ack, dead-letter then ack, or nack-requeue.

A job is one message (by id) this process holds, with every copy of it the broker delivered
meanwhile (a redelivery of a message still running here is attached to its job, not run again);
all its copies on the current connection are settled together.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import BasicProperties

from services.common import topology
from services.common.delivery import Delivery
from services.common.outcomes import DeadLetter, Outcome, RetryLater
from services.common.topology import QueueSpec

log = logging.getLogger(__name__)


@dataclass
class Job:
    key: str
    # (connection epoch, delivery tag, delivery) of every copy of this message we hold.
    copies: list[tuple[int, int, Delivery]] = field(default_factory=list)

    @property
    def delivery(self) -> Delivery:
        return self.copies[0][2]

    def tags(self, epoch: int) -> list[int]:
        return [tag for copy_epoch, tag, _ in self.copies if copy_epoch == epoch]


def settle(channel: BlockingChannel, queue: QueueSpec, job: Job, outcome: Outcome, epoch: int) -> None:
    tags = job.tags(epoch)
    if isinstance(outcome, RetryLater):
        for tag in tags:
            channel.basic_nack(tag, requeue=True)
        return
    if isinstance(outcome, DeadLetter):
        dead_letter(channel, queue, job.delivery, outcome.reason)
    for tag in tags:
        channel.basic_ack(tag)


def dead_letter(channel: BlockingChannel, queue: QueueSpec, delivery: Delivery, reason: str) -> None:
    """Straight into the queue's dead-letter queue (default exchange), confirmed, before the ack."""
    log.error("poison message dead-lettered",
              extra={"queue": queue.name, "message_id": delivery.message_id, "reason": reason})
    headers = dict(delivery.properties.headers or {})
    headers[topology.REJECTION_REASON_HEADER] = reason[:1000]
    headers["x-original-routing-key"] = delivery.routing_key
    props = delivery.properties
    properties = BasicProperties(
        content_type=props.content_type, delivery_mode=pika.DeliveryMode.Persistent,
        message_id=props.message_id, type=props.type, app_id=props.app_id, headers=headers,
    )
    channel.basic_publish("", queue.dead_letter_queue, delivery.body, properties)
