"""`python -m bench.webhooks`: a recipe event durable in MongoDB -> a webhook receiver (issue 16, item 2).

The store's own code writes each tool call (``persist``: SecantusDB, ``j=True``) and publishes, with
confirms, what the store's handler publishes after a batch (``events.recorded`` and the recipe
event); t0 is when ``persist`` returned. Two readers get each recipe event: an HTTP receiver
subscribed (unordered, ``recipe.*``) through the real API, sent to by the real deliverer process
(``python -m services.gateway deliver``: records the pending delivery, wakes its scheduler, which
claims and POSTs it), and the floor, a plain AMQP subscriber of its own queue bound to ``recipe.#``
(the broker hop alone), in the same run, for the same events. Events go one at a time (unloaded):
each waits for both readers.

Prints per round p50/p99 of both; then the medians over ROUNDS rounds and, last, ``ratio=`` (the
median p99 over the floor's median p99).
Starts its own SecantusDB and uses a fresh vhost.
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pika
import requests
from pymongo import MongoClient
from pymongo.collection import Collection

from bench.e2e.report import report_rounds
from bench.gateway.__main__ import _serve
from bench.live.__main__ import Arrivals
from services.common import schemas, topology
from services.common.events import CloudEvent, new_event
from services.common.publisher import Publisher
from services.store.handlers import persist
from services.store.mongo import StoreDatabase
from services.store.outcomes import recorded_events
from tests.store.streams import tool_call
from tests.support.broker import fresh_vhost, wait_for_broker
from tests.support.mongo import EmbeddedMongo
from tests.support.processes import ServiceProcess

EVENTS = int(os.environ.get("BENCH_EVENTS", "200"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
DURABLE_AT: dict[str, datetime] = {}  # the wall clock at t0, to split the path at the record's created_at


def receiver(arrivals: Arrivals) -> ThreadingHTTPServer:
    """A webhook receiver on 127.0.0.1 that marks each delivered event's id and answers 204."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            arrivals.mark(json.loads(body)["id"])
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def read_floor(url: str, ready: threading.Event, stop: threading.Event, arrivals: Arrivals) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    # The deliverer's queue too, before anything is published: an unroutable recipe event is lost.
    topology.declare(channel, [topology.GATEWAY_WEBHOOKS], delivery_limit=20)
    queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
    channel.queue_bind(queue, topology.EXCHANGE, routing_key="recipe.#")
    channel.basic_consume(queue, lambda _c, _m, _p, body: arrivals.mark(json.loads(body)["id"]), auto_ack=True)
    ready.set()
    while not stop.is_set():
        connection.process_data_events(time_limit=0.1)
    connection.close()


def store(db: StoreDatabase, publisher: Publisher, event: CloudEvent) -> tuple[str, float]:
    """Persist one event and publish as the store's handler does: (its recipe event's id, t0)."""
    started = datetime.now(timezone.utc)
    announcements = persist(db, [event])
    t0 = time.perf_counter()
    DURABLE_AT[announcements[0].id] = datetime.now(timezone.utc)
    publisher.publish(recorded_events([event], started) + announcements, timeout=10, allow_unroutable=True)
    return announcements[0].id, t0


def one_round(db: StoreDatabase, publisher: Publisher, hook: Arrivals, floor: Arrivals
              ) -> tuple[list[float], list[float]]:
    """One recipe, EVENTS ingredients one at a time: (durable -> receiver, durable -> floor) seconds."""
    generation_id, slug = str(uuid.uuid4()), "soup"
    persist(db, [new_event(schemas.GENERATION_REQUESTED, "gateway", {"generation_id": generation_id, "prompt": "x"})])
    created, _ = store(db, publisher, tool_call(generation_id, schemas.TOOLCALL_ADD_RECIPE, "call_recipe", {
        "id": slug, "name": "Soup", "description": "Hot."}, 0))
    hook.wait(created, timeout=60)
    t0: dict[str, float] = {}
    for n in range(EVENTS):
        event_id, t0[event_id] = store(db, publisher, tool_call(
            generation_id, schemas.TOOLCALL_ADD_INGREDIENT, f"call_{n}",
            {"id": slug, "ingredient": f"leek {n}", "quantity": "1"}, n + 1, position=n))
        hook.wait(event_id)
        floor.wait(event_id)
    return [hook.at[i] - t for i, t in t0.items()], [floor.at[i] - t for i, t in t0.items()]


def split(deliveries: Collection, rounds: list[tuple[list[float], list[float]]]) -> tuple[float, float]:
    """Medians of durable -> the record's created_at (the recorder's clock) and of the rest of the path."""
    created = {doc["event_id"]: doc["created_at"] for doc in deliveries.find(
        {"event_id": {"$in": list(DURABLE_AT)}}, {"event_id": 1, "created_at": 1})}
    total = statistics.median(value for to_hook, _ in rounds for value in to_hook)
    first = statistics.median((created[i] - at).total_seconds() for i, at in DURABLE_AT.items() if i in created)
    return first, total - first


def main() -> int:
    wait_for_broker()
    hook, floor = Arrivals(), Arrivals()
    server = receiver(hook)
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp, fresh_vhost("bench") as url:
        mongo = EmbeddedMongo(Path(tmp) / "data").start()
        env = {"RABBITMQ_URL": url, "MONGO_URI": mongo.uri, "MONGO_DB": "bench", "LOG_LEVEL": "WARNING",
               "GATEWAY_WORKERS": "1", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_ALLOW_HTTP": "true"}
        client = MongoClient(mongo.uri, tz_aware=True)
        db = StoreDatabase(client["bench"])
        db.ensure_indexes()
        ready, stop = threading.Event(), threading.Event()
        threading.Thread(target=read_floor, args=(url, ready, stop, floor), daemon=True).start()
        if not ready.wait(30):
            raise SystemExit("the floor's subscriber did not bind its queue")
        publisher = Publisher(url, name="bench-store").start()
        gateway, bind = _serve("services.gateway", env)
        deliverer = ServiceProcess("services.gateway", env, ["deliver"], name="deliverer").start()
        try:
            answer = requests.post(f"http://{bind}/v1/subscriptions", timeout=30, json={
                "url": f"http://127.0.0.1:{server.server_address[1]}/hook", "event_types": ["recipe.*"]})
            if answer.status_code != 201:
                raise SystemExit(f"cannot subscribe: {answer.status_code} {answer.text}")
            one_round(db, publisher, hook, floor)  # warm-up
            DURABLE_AT.clear()
            rounds = [one_round(db, publisher, hook, floor) for _ in range(ROUNDS)]
            recorded = split(client["bench"]["webhook_deliveries"], rounds)
        finally:
            stop.set()
            deliverer.terminate()
            gateway.kill()
            publisher.close()
            client.close()
            mongo.stop()
            server.shutdown()
    hook99, floor99 = report_rounds("durable->webhook", rounds, 0.050)
    print(f"where (medians over every event): durable -> recorded {recorded[0] * 1e3:.1f}ms (broker hop, the "
          f"recorder's reads); recorded -> received {recorded[1] * 1e3:.1f}ms (the bulk write, a claim round, "
          f"the POST)")
    print(f"ratio={hook99 / floor99:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
