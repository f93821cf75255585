"""What a handler says about each message it was given: the consumer's whole vocabulary.

* ``ACK`` (``Ack()``): done, its effect is durable: the message is acked.
* ``DeadLetter(reason)``: it can never be handled: published with the reason in
  ``x-rejection-reason`` to the queue's dead-letter queue, then acked.
* ``RetryLater(reason)``: not now: nacked with requeue, so the broker delivers it again and
  counts the delivery; on the last delivery the queue's limit allows, the service's
  ``give_up`` decides instead (services/common/handling.py).

Errors a handler raises are not outcomes: a transient one (the service's classifier) is waited
out with the messages held, any other is ``RetryLater`` for the whole batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar, Union

from services.common.rejection import Rejected


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class DeadLetter:
    reason: str


@dataclass(frozen=True)
class RetryLater:
    reason: str = ""


Outcome = Union[Ack, DeadLetter, RetryLater]
ACK = Ack()

M = TypeVar("M")


def one_at_a_time(handler: Callable[[M], Outcome | None]) -> Callable[[Sequence[M]], list[Outcome]]:
    """Adapt a per-message handler into a batch handler: returning (None or an outcome) acks or says
    what to do; raising ``Rejected`` dead-letters the message with its reason."""

    def handle(messages: Sequence[M]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for message in messages:
            try:
                outcomes.append(handler(message) or ACK)
            except Rejected as rejected:
                outcomes.append(DeadLetter(rejected.reason))
        return outcomes

    return handle
