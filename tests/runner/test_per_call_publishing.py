"""Each tool call becomes an event the moment the model's stream completes it, not when the turn ends.

The emulator writes the calls' arguments at 40 tokens/s (``--tokens-per-second``), as a real model
does, and notes when each call's last delta went out (``completed_at``). An outside AMQP subscriber
notes when each event reached it.
"""
from __future__ import annotations

import threading
import time
from typing import Iterator

import pika
import pytest

from services.common import schemas, topology
from services.common.events import CloudEvent, decode
from tests.runner.helpers import SEED_PROMPT

PACE = "40"  # tokens per second: the seed's 19 ingredients take the model several seconds to write


class Subscriber:
    """An outside service's exclusive queue on the event exchange; notes each event's arrival time."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.arrivals: list[tuple[CloudEvent, float]] = []
        self._stop = threading.Event()
        self._bound = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self._url))
        channel = connection.channel()
        channel.exchange_declare(topology.EXCHANGE, exchange_type="topic", durable=True)
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, topology.EXCHANGE, routing_key="toolcall.#")
        channel.basic_consume(queue, lambda _ch, _m, _p, body: self.arrivals.append((decode(body), time.time())),
                              auto_ack=True)
        self._bound.set()
        while not self._stop.is_set():
            connection.process_data_events(time_limit=0.05)
        connection.close()

    def __enter__(self) -> "Subscriber":
        self._thread.start()
        assert self._bound.wait(30), "the subscriber's queue was not bound"
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def subscriber(pipeline) -> Iterator[Subscriber]:
    with Subscriber(pipeline.url) as outside:
        yield outside


@pytest.mark.parametrize("backend", ["responses", "assistants"])
def test_ingredient_events_reach_a_subscriber_while_the_model_is_still_writing_the_rest(
        backend, start_emulator, start_runner, pipeline, subscriber):
    emulator = start_emulator("--tokens-per-second", PACE)
    start_runner(emulator, MODEL_BACKEND=backend)
    gid = pipeline.request(SEED_PROMPT)
    assert pipeline.wait_terminal(gid, timeout=120).type == schemas.GENERATION_COMPLETED
    written = emulator.tool_calls()
    first_seen: dict[str, tuple[CloudEvent, float]] = {}
    for event, at in subscriber.arrivals:
        if event.type == schemas.TOOLCALL_ADD_INGREDIENT and event.subject == gid:
            first_seen.setdefault(event.id, (event, at))
    ingredients = sorted(first_seen.values(), key=lambda pair: pair[1])
    assert len(ingredients) == 19
    completed = [written[e.data["tool_call_id"]]["completed_at"] for e, _ in ingredients]
    turn_written = max(completed)  # the turn ends once its last call is written
    for (event, arrived), done in zip(ingredients[:-1], completed):
        assert done <= arrived < turn_written, event.data["tool_call_id"]  # after its own call, before the turn's end
    first, last = ingredients[0][1], ingredients[-1][1]
    writing = turn_written - min(completed)
    assert writing > 1.0 and last - first > 0.5 * writing  # spread over the writing, not in one burst at the end
