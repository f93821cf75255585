"""Test helpers in the runner's language: request a generation, read what the runner emitted."""
from __future__ import annotations

import json
import uuid
from collections import defaultdict
from typing import Any

import pika
import pika.exceptions

from services.common import schemas, topology
from services.common.events import CloudEvent, decode, new_event
from services.common.publisher import Publisher
from services.common.vocabulary import SEED_INSTRUCTIONS, SEED_PROMPT
from tests.support.waiting import wait_for

DELIVERY_LIMIT = 5
TERMINAL = (schemas.GENERATION_COMPLETED, schemas.GENERATION_FAILED)


class Pipeline:
    """Requests go to ``runner.generations``; the runner's events are read from ``store.events``."""

    def __init__(self, url: str, delivery_limit: int = DELIVERY_LIMIT) -> None:
        self.url = url
        self.seen: list[CloudEvent] = []
        connection = pika.BlockingConnection(pika.URLParameters(url))
        try:
            topology.declare(connection.channel(), (topology.RUNNER_GENERATIONS, topology.STORE_EVENTS),
                             delivery_limit)
        finally:
            if connection.is_open:
                connection.close()
        self.publisher = Publisher(url, name="test-publisher").start()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.publisher.close()

    def request(self, prompt: str = SEED_PROMPT, *, instructions: str | None = SEED_INSTRUCTIONS,
                generation_id: str | None = None, model: str | None = None) -> str:
        gid = generation_id or str(uuid.uuid4())
        data = {"generation_id": gid, "prompt": prompt}
        if model:
            data["model"] = model
        if instructions:
            data["instructions"] = instructions
        event = new_event(schemas.GENERATION_REQUESTED, "test", data, subject=gid, event_id=gid,
                          traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01")
        self.publisher.publish([event], timeout=10)
        return gid

    def publish_raw(self, body: bytes, message_id: str) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.basic_publish(topology.EXCHANGE, schemas.GENERATION_REQUESTED, body,
                                  pika.BasicProperties(message_id=message_id, delivery_mode=2), mandatory=True)
        finally:
            connection.close()

    def collect(self) -> list[CloudEvent]:
        """Every event emitted so far (the store queue is drained into ``seen``).

        Messages are acked only once all are read, so a broker restart (other suites share the broker)
        loses none: the read is tried again at the next call (tests compare distinct ids).
        """
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.url))
        except pika.exceptions.AMQPConnectionError:
            return self.seen
        try:
            channel = connection.channel()
            bodies, last_tag = [], None
            while True:
                method, _props, body = channel.basic_get(topology.STORE_EVENTS.name)
                if method is None:
                    break
                bodies.append(body)
                last_tag = method.delivery_tag
            if last_tag is not None:
                self.seen.extend(decode(body) for body in bodies)  # a failed ack re-reads them: a duplicate, not a loss
                channel.basic_ack(last_tag, multiple=True)
                connection.process_data_events(0)
        except pika.exceptions.AMQPConnectionError:
            pass
        finally:
            if connection.is_open:
                connection.close()
        return self.seen

    def events(self, generation_id: str) -> list[CloudEvent]:
        """What the runner emitted for one generation (the store queue also holds the requests)."""
        return [e for e in self.collect() if e.subject == generation_id and e.source == "runner"]

    def wait_terminal(self, generation_id: str, timeout: float = 60) -> CloudEvent:
        def terminal():
            return next((e for e in self.events(generation_id) if e.type in TERMINAL), None)
        return wait_for(terminal, timeout=timeout, interval=0.2, message=f"generation {generation_id} to end")

    def wait_all_terminal(self, generation_ids: list[str], timeout: float) -> dict[str, CloudEvent]:
        def done():
            ended = {e.subject: e for e in self.collect() if e.type in TERMINAL}
            return ended if all(g in ended for g in generation_ids) else None
        return wait_for(done, timeout=timeout, interval=0.5, message=f"{len(generation_ids)} generations to end")


def distinct(events: list[CloudEvent]) -> list[CloudEvent]:
    """First copy of each event id, in arrival order (redelivery may repeat an id)."""
    seen: set[str] = set()
    out = []
    for event in events:
        if event.id not in seen:
            seen.add(event.id)
            out.append(event)
    return out


def by_type(events: list[CloudEvent]) -> dict[str, list[CloudEvent]]:
    groups: dict[str, list[CloudEvent]] = defaultdict(list)
    for event in events:
        groups[event.type].append(event)
    return groups


def arguments(events: list[CloudEvent], event_type: str) -> list[dict[str, Any]]:
    return [dict(e.data["arguments"]) for e in events if e.type == event_type]


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)

