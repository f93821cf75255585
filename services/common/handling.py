"""A batch's outcomes, worked out on a worker thread: decode, call the handler, wait out outages, give up.

* A body the service's decoder refuses (``Rejected``) is ``DeadLetter(reason)``; the handler
  never sees it.
* A transient error (the service's classifier, e.g. ``services.common.mongo.transient``) calls the
  handler again with capped, jittered exponential backoff while the messages stay unacked (held,
  not requeued): an outage of minutes burns no delivery limit. A stop ends the wait at once and
  the batch is released (``None``): it goes back to the queue when the connection closes.
* Any other error is ``RetryLater`` for the batch: requeued, bounded by the queue's
  ``x-delivery-limit``.
* A message that would be retried on the last delivery the limit allows is given to the service's
  ``give_up`` instead, which ends the work visibly (``ACK``) or dead-letters it with a reason. The
  delivery limit is counted here, not in handlers.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from tenacity import Retrying, retry_if_exception, stop_when_event_set, wait_exponential_jitter

from services.common.delivery import Delivery
from services.common.outcomes import Ack, DeadLetter, Outcome, RetryLater
from services.common.rejection import Rejected

log = logging.getLogger(__name__)

# What a handler is given per message: the Delivery, or what the service's decoder made of it.
Decode = Callable[[Delivery], Any]
BatchHandler = Callable[[Sequence[Any]], Sequence[Outcome]]
# Whether an error the handler raised is worth waiting out (the messages are held meanwhile).
Transient = Callable[[BaseException], bool]
# A message whose last allowed delivery failed with this error: ACK (ended visibly) or DeadLetter(reason).
GiveUp = Callable[[Any, BaseException], Outcome]


class RetryRequested(Exception):
    """The error ``give_up`` is given for a message its handler answered ``RetryLater``."""


def never_transient(_error: BaseException) -> bool:
    return False


def raw(delivery: Delivery) -> Delivery:
    return delivery


@dataclass
class Handling:
    queue: str
    handler: BatchHandler
    stopping: threading.Event
    delivery_limit: int
    decode: Decode = raw
    transient: Transient = never_transient
    give_up: GiveUp | None = None
    max_backoff: float = 5.0

    def last_delivery(self, delivery: Delivery) -> bool:
        """Is this the last delivery the queue's limit allows (the broker dead-letters the next)?"""
        return delivery.delivery_count >= self.delivery_limit

    def outcomes(self, deliveries: Sequence[Delivery]) -> list[Outcome] | None:
        """One outcome per delivery; None: stopped during an outage, release them all unsettled."""
        outcomes: list[Outcome | None] = []
        decoded: list[tuple[int, Delivery, Any]] = []  # (position, delivery, what the handler gets)
        for delivery in deliveries:
            try:
                message = self.decode(delivery)
            except Rejected as rejected:
                outcomes.append(DeadLetter(rejected.reason))
                continue
            decoded.append((len(outcomes), delivery, message))
            outcomes.append(None)
        if decoded:
            verdicts = self._handled([message for _, _, message in decoded])
            if verdicts is None:
                return None
            for (position, delivery, message), verdict in zip(decoded, verdicts):
                outcomes[position] = self._final(delivery, message, verdict)
        return [outcome or RetryLater("no outcome") for outcome in outcomes]

    def _handled(self, messages: list[Any]) -> list[Outcome | BaseException] | None:
        """The handler's outcomes, or its error (not transient) for every message."""
        try:
            return list(self._waiting_out(messages))
        except Exception as error:
            if self.stopping.is_set() and self.transient(error):
                log.warning("stopping during an outage; the messages go back to the queue unacked",
                            extra={"queue": self.queue, "messages": len(messages), "error": repr(error)})
                return None
            log.exception("handler failed; messages will be redelivered", extra={"queue": self.queue})
            return [error] * len(messages)

    def _final(self, delivery: Delivery, message: Any, verdict: Outcome | BaseException) -> Outcome:
        if isinstance(verdict, (Ack, DeadLetter)):
            return verdict
        error = verdict if isinstance(verdict, BaseException) else RetryRequested(verdict.reason)
        if self.give_up is None or not self.last_delivery(delivery):
            return verdict if isinstance(verdict, RetryLater) else RetryLater(repr(verdict))
        try:
            return self.give_up(message, error)
        except Exception:
            log.exception("giving up failed; the message will be redelivered", extra={"queue": self.queue})
            return RetryLater("giving up failed")

    def _pause(self, seconds: float) -> None:
        self.stopping.wait(seconds)

    def _waiting_out(self, messages: list[Any]) -> list[Outcome]:
        """The handler's outcomes; a transient error calls it again after a backoff, until a stop."""
        retrying = Retrying(
            retry=retry_if_exception(self.transient),
            wait=wait_exponential_jitter(multiplier=0.2, max=self.max_backoff),
            stop=stop_when_event_set(self.stopping),
            sleep=self._pause,  # a stop ends the wait at once
            before_sleep=lambda state: log.warning(
                "handler hit a transient error; holding the messages and retrying",
                extra={"queue": self.queue, "messages": len(messages),
                       "error": repr(state.outcome.exception() if state.outcome else None),
                       "attempt": state.attempt_number}),
            reraise=True,
        )
        last: BaseException | None = None
        for attempt in retrying:
            with attempt:
                if last is not None and self.stopping.is_set():
                    raise last  # the stop came during the wait: no further attempt
                try:
                    outcomes = list(self.handler(messages))
                except Exception as error:
                    last = error
                    raise
                if len(outcomes) != len(messages):
                    raise RuntimeError(f"handler returned {len(outcomes)} outcomes for {len(messages)} messages")
                wrong = [o for o in outcomes if not isinstance(o, (Ack, DeadLetter, RetryLater))]
                if wrong:
                    raise TypeError(f"handler returned {wrong[0]!r}, not an outcome (services.common.outcomes)")
                return outcomes
        raise AssertionError("unreachable")  # pragma: no cover - reraise=True: the loop returns or raises
