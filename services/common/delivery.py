"""What a consumer hands its handler: the AMQP delivery, or the event decoded from it.

A service whose queue carries CloudEvents gives its consumer a decoder (``received``, or its
own that checks more): a body it refuses (``Rejected``) is dead-lettered with the reason before
the handler sees it, and the handler gets ``Received`` (the event, and the delivery's metadata
for the few that need it: the redelivery count, the routing key, the raw body).
"""
from __future__ import annotations

from dataclasses import dataclass

from pika.spec import BasicProperties

from services.common.events import CloudEvent, decode


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


@dataclass(frozen=True)
class Received:
    event: CloudEvent
    delivery: Delivery  # its metadata: message.delivery.delivery_count, .routing_key, .body


def received(delivery: Delivery) -> Received:
    """The delivery's CloudEvent; raises ``InvalidEvent`` (a ``Rejected``) with the reason."""
    return Received(decode(delivery.body), delivery)
