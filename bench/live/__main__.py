"""`python -m bench.live`: an event durable in MongoDB -> on a generation's SSE stream (issue 16, item 2).

The store's own code writes each event (``persist``: SecantusDB, ``j=True``) and then publishes its
``events.recorded`` with confirms, as the store's handler does after a batch; t0 is when ``persist``
returned. Two readers get each event: a client of the generation's SSE stream on the real gateway
(gunicorn, GATEWAY_WORKERS workers: the worker's own queue wakes the stream, which reads MongoDB and
writes the frame), and the floor, a plain AMQP subscriber of its own queue bound to
``events.recorded`` (the broker hop alone), in the same run, for the same events. Events go one at
a time (unloaded): each waits for both readers. BENCH_IDLE_STREAMS more streams of other
generations stay open on the gateway meanwhile (their workers get every announcement too).

Prints per round p50/p99 of both; then the medians over ROUNDS rounds and, last, ``ratio=`` (the
median p99 over the floor's median p99).
Starts its own SecantusDB and uses a fresh vhost.
"""
from __future__ import annotations

import http.client
import json
import os
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pika
from pymongo import MongoClient

from bench.e2e.report import report_rounds
from bench.gateway.__main__ import _serve
from services.common import schemas, topology
from services.common.events import CloudEvent, new_event
from services.common.publisher import Publisher
from services.store.handlers import persist
from services.store.mongo import StoreDatabase
from services.store.outcomes import recorded_events
from tests.support.broker import fresh_vhost, wait_for_broker
from tests.support.mongo import EmbeddedMongo

EVENTS = int(os.environ.get("BENCH_EVENTS", "200"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
IDLE_STREAMS = int(os.environ.get("BENCH_IDLE_STREAMS", "10"))
WORKERS = os.environ.get("GATEWAY_WORKERS", "2")


class Arrivals:
    """When each event id reached a reader (perf_counter), shared by the readers' threads."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.changed = threading.Condition()

    def mark(self, event_id: str) -> None:
        now = time.perf_counter()
        with self.changed:
            self.at.setdefault(event_id, now)
            self.changed.notify_all()

    def wait(self, event_id: str, timeout: float = 30.0) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: event_id in self.at, timeout):
                raise TimeoutError(f"event {event_id} did not arrive within {timeout}s")


def read_stream(bind: str, generation_id: str, arrivals: Arrivals) -> None:
    """Follow one SSE stream line by line (``id:`` lines carry the event id), until it closes."""
    host, port = bind.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600)
    connection.request("GET", f"/v1/generations/{generation_id}/events", headers={"Accept": "text/event-stream"})
    response = connection.getresponse()
    while line := response.readline():
        if line.startswith(b"id: "):
            arrivals.mark(line[4:].strip().decode())


def read_floor(url: str, ready: threading.Event, stop: threading.Event, arrivals: Arrivals) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    topology.declare_exchanges(channel)  # a fresh vhost: nothing may have declared them yet
    queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
    channel.queue_bind(queue, topology.EXCHANGE, routing_key=topology.LIVE_EVENTS_BINDING)

    def on_message(_channel, _method, _properties, body: bytes) -> None:
        arrivals.mark(json.loads(body)["data"]["last_event_id"])
    channel.basic_consume(queue, on_message, auto_ack=True)
    ready.set()
    while not stop.is_set():
        connection.process_data_events(time_limit=0.1)
    connection.close()


def _rejected(generation_id: str, n: int) -> CloudEvent:
    return new_event(schemas.TOOLCALL_REJECTED, "runner", {
        "generation_id": generation_id, "tool_call_id": f"call_{n}", "tool": "addStep",
        "arguments": "{not json", "error": "bench"})


def one_round(db: StoreDatabase, publisher: Publisher, bind: str, floor: Arrivals
              ) -> tuple[list[float], list[float]]:
    """One generation's stream, EVENTS events one at a time: (durable -> SSE, durable -> floor) seconds."""
    generation_id = str(uuid.uuid4())
    requested = new_event(schemas.GENERATION_REQUESTED, "gateway", {"generation_id": generation_id, "prompt": "x"})
    persist(db, [requested])
    sse = Arrivals()
    threading.Thread(target=read_stream, args=(bind, generation_id, sse), daemon=True).start()
    sse.wait(requested.id, timeout=120)  # the stream's history: it is open (a cold gateway may be slow)
    t0: dict[str, float] = {}
    for n in range(EVENTS):
        event = _rejected(generation_id, n)
        started = datetime.now(timezone.utc)  # as the store's handler does, before persist
        persist(db, [event])
        t0[event.id] = time.perf_counter()
        publisher.publish(recorded_events([event], started), timeout=10, allow_unroutable=True)
        sse.wait(event.id)
        floor.wait(event.id)
    return [sse.at[i] - t for i, t in t0.items()], [floor.at[i] - t for i, t in t0.items()]


def main() -> int:
    wait_for_broker()
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp, fresh_vhost("bench") as url:
        mongo = EmbeddedMongo(Path(tmp) / "data").start()
        env = {"RABBITMQ_URL": url, "MONGO_URI": mongo.uri, "MONGO_DB": "bench", "LOG_LEVEL": "WARNING",
               "GATEWAY_WORKERS": WORKERS, "GATEWAY_SSE_MAX_SECONDS": "3600"}
        client = MongoClient(mongo.uri, tz_aware=True)
        db = StoreDatabase(client["bench"])
        db.ensure_indexes()
        publisher = Publisher(url, name="bench-store").start()
        ready, stop, floor = threading.Event(), threading.Event(), Arrivals()
        threading.Thread(target=read_floor, args=(url, ready, stop, floor), daemon=True).start()
        if not ready.wait(30):
            raise SystemExit("the floor's subscriber did not bind its queue")
        gateway, bind = _serve("services.gateway", env)
        try:
            for _ in range(IDLE_STREAMS):
                idle = str(uuid.uuid4())
                persist(db, [new_event(schemas.GENERATION_REQUESTED, "gateway",
                                       {"generation_id": idle, "prompt": "x"})])
                threading.Thread(target=read_stream, args=(bind, idle, Arrivals()), daemon=True).start()
            one_round(db, publisher, bind, floor)  # warm-up
            rounds = [one_round(db, publisher, bind, floor) for _ in range(ROUNDS)]
        finally:
            stop.set()
            gateway.kill()
            publisher.close()
            client.close()
            mongo.stop()
    sse99, floor99 = report_rounds("durable->SSE", rounds, 0.020)
    print(f"ratio={sse99 / floor99:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
