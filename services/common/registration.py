"""A service's consumers, declared as data: each service's ``consumers.py`` holds its table.

One ``Registration`` per queue the service consumes: the handler, how its bodies are decoded,
its batch size and concurrency, which errors are waited out (``transient``) and who decides on
the last delivery the queue's limit allows (``give_up``). The service's bootstrap reads the table
and builds a ``Consumer`` for each row with the deployment's settings (``DELIVERY_LIMIT``,
``RABBITMQ_QUORUM_GROUP_SIZE``), so every consumer of a service is found in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from services.common.config import Settings
from services.common.consumer import Consumer
from services.common.handling import BatchHandler, Decode, GiveUp, Transient, never_transient, raw
from services.common.topology import QueueSpec


@dataclass(frozen=True)
class Registration:
    queue: QueueSpec
    handler: BatchHandler
    decode: Decode = raw
    batch_size: int = 1
    prefetch: int = 50
    workers: int = 8
    transient: Transient = never_transient
    give_up: GiveUp | None = None
    declare: tuple[QueueSpec, ...] = ()  # other queues to declare, so events published to them wait
    stop_timeout: float = 30.0

    def consumer(self, settings: Settings) -> Consumer:
        return Consumer(settings.rabbitmq_url, self.queue, self.handler, decode=self.decode,
                        delivery_limit=settings.delivery_limit, quorum_group_size=settings.rabbitmq_quorum_group_size,
                        batch_size=self.batch_size, prefetch=self.prefetch, workers=self.workers,
                        transient=self.transient, give_up=self.give_up, declare=self.declare,
                        stop_timeout=self.stop_timeout)


def only(table: Sequence[Registration], settings: Settings) -> Consumer:
    """The consumer of a service whose table has one row (each service's today)."""
    [registration] = table
    return registration.consumer(settings)
