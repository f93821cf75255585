"""Broker topology: one durable topic exchange, quorum queues, dead-letter queues.

Names come from here only. Every service declares what it needs at start-up;
declaring is idempotent, so start order does not matter.

Dead letters: each work queue dead-letters to the direct exchange
``recipes.dead-letter`` with its own name as routing key, into
``<queue>.dead-letter``. So an operator sees per queue what failed, and can
shovel it back (docs/operations.md).

On a cluster, ``group_size`` (RABBITMQ_QUORUM_GROUP_SIZE) sets how many nodes hold
each quorum queue and places its leader on the node with the fewest leaders, so
work queues spread over the nodes. Unset, no argument is sent: the broker's
default, and the declarations (and so the queues) of a single node stay as
they were. RabbitMQ checks both arguments on every re-declaration: every
service of one deployment must have the same setting.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable

import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

log = logging.getLogger(__name__)

EXCHANGE = "recipes"
DEAD_LETTER_EXCHANGE = "recipes.dead-letter"
DEAD_LETTER_SUFFIX = ".dead-letter"
# Header the consumer adds when it dead-letters a message itself (poison), next to x-death.
REJECTION_REASON_HEADER = "x-rejection-reason"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    binding_keys: tuple[str, ...]

    @property
    def dead_letter_queue(self) -> str:
        return dead_letter_queue_name(self.name)


def queue_name(service: str, purpose: str) -> str:
    return f"{service}.{purpose}"


def dead_letter_queue_name(queue: str) -> str:
    return queue + DEAD_LETTER_SUFFIX


RUNNER_GENERATIONS = QueueSpec(queue_name("runner", "generations"), ("generation.requested",))
STORE_EVENTS = QueueSpec(queue_name("store", "events"), ("toolcall.*", "generation.*"))
GATEWAY_WEBHOOKS = QueueSpec(queue_name("gateway", "webhooks"), ("recipe.#",))
# Every service declares all of these at start-up, whatever it consumes: an
# event published before its consumer first started still waits in its queue.
WORK_QUEUES = (RUNNER_GENERATIONS, STORE_EVENTS, GATEWAY_WEBHOOKS)

# model.* events (OpenAI webhooks the gateway verified) are hints for whoever waits on a response:
# each runner process binds its own exclusive, auto-delete queue (not a work queue: every runner
# sees every event; a lost one is covered by the runner's safety-net poll).
MODEL_EVENTS_BINDING = "model.#"
HINT_QUEUE_FLAGS = {"durable": False, "exclusive": True, "auto_delete": True}


def model_events_queue_name(instance: str) -> str:
    return queue_name("runner", f"model-events.{instance}")


def declare_model_events_queue(channel: BlockingChannel, instance: str) -> str:
    """Declare and bind one runner process's exclusive, auto-delete queue for model.* events."""
    return declare_hint_queue(channel, model_events_queue_name(instance), MODEL_EVENTS_BINDING)


def declare_hint_queue(channel: BlockingChannel, name: str, binding: str) -> str:
    """Declare one process's exclusive, auto-delete queue and bind it to ``binding`` (services/common/hints.py)."""
    declare_exchanges(channel)
    channel.queue_declare(name, **HINT_QUEUE_FLAGS)
    channel.queue_bind(name, EXCHANGE, routing_key=binding)
    return name


# events.recorded (the store recorded a generation's events) wakes the gateway's live views: each
# gateway worker binds its own exclusive, auto-delete queue, as a runner does for model.* (a lost
# hint is covered by the streams' safety read, services/gateway/sse.py).
LIVE_EVENTS_BINDING = "events.recorded"


def live_events_queue_name(instance: str) -> str:
    return queue_name("gateway", f"live.{instance}")


def declare_live_events_queue(channel: BlockingChannel, instance: str) -> str:
    """Declare and bind one gateway worker's exclusive, auto-delete queue for events.recorded."""
    return declare_hint_queue(channel, live_events_queue_name(instance), LIVE_EVENTS_BINDING)


def topic_matches(binding_key: str, routing_key: str) -> bool:
    """Whether a topic exchange routes ``routing_key`` to a queue bound with ``binding_key``
    (``*`` is one word, ``#`` zero or more)."""
    def match(pattern: list[str], words: list[str]) -> bool:
        if not pattern:
            return not words
        if pattern[0] == "#":
            return any(match(pattern[1:], words[skip:]) for skip in range(len(words) + 1))
        return bool(words) and pattern[0] in ("*", words[0]) and match(pattern[1:], words[1:])
    return match(binding_key.split("."), routing_key.split("."))


def quorum_arguments(group_size: int | None) -> dict[str, object]:
    """The cluster placement arguments of a quorum queue; none when ``group_size`` is unset."""
    if group_size is None:
        return {"x-queue-type": "quorum"}
    # "balanced": the leader goes to the node leading the fewest queues (RabbitMQ 3.10), not the declarer's node.
    return {"x-queue-type": "quorum", "x-quorum-initial-group-size": group_size, "x-queue-leader-locator": "balanced"}


def queue_arguments(spec: QueueSpec, delivery_limit: int, group_size: int | None = None) -> dict[str, object]:
    return {
        **quorum_arguments(group_size),
        # x-delivery-limit N allows N+1 deliveries; then the broker dead-letters.
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": spec.name,
        # Without these two, quorum queues dead-letter at most once (3.10).
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


# (name, type) of every exchange, durable; the publisher declares them too, on its asynchronous channel.
EXCHANGES = ((EXCHANGE, "topic"), (DEAD_LETTER_EXCHANGE, "direct"))


def declare_exchanges(channel: BlockingChannel) -> None:
    for name, kind in EXCHANGES:
        channel.exchange_declare(name, exchange_type=kind, durable=True)


def declare_queue(channel: BlockingChannel, spec: QueueSpec, delivery_limit: int,
                  group_size: int | None = None) -> None:
    """Declare a work queue, its bindings and its dead-letter queue (exchanges first)."""
    declare_exchanges(channel)
    channel.queue_declare(spec.dead_letter_queue, durable=True, arguments=quorum_arguments(group_size))
    channel.queue_bind(spec.dead_letter_queue, DEAD_LETTER_EXCHANGE, routing_key=spec.name)
    channel.queue_declare(spec.name, durable=True, arguments=queue_arguments(spec, delivery_limit, group_size))
    for key in spec.binding_keys:
        channel.queue_bind(spec.name, EXCHANGE, routing_key=key)


def ensure_queue(connection: BlockingConnection, spec: QueueSpec, delivery_limit: int,
                 group_size: int | None = None) -> None:
    """Declare another service's queue so events wait for it; if it exists with other
    arguments (another DELIVERY_LIMIT), it exists, which is all we need here."""
    channel = connection.channel()
    try:
        declare_queue(channel, spec, delivery_limit, group_size)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code != 406:
            raise
        log.warning("queue exists with other arguments; using it as it is",
                    extra={"queue": spec.name, "reason": exc.reply_text})
        return
    channel.close()


def declare(channel: BlockingChannel, queues: Iterable[QueueSpec], delivery_limit: int,
            group_size: int | None = None) -> None:
    declare_exchanges(channel)
    for spec in queues:
        declare_queue(channel, spec, delivery_limit, group_size)
