"""`python -m bench.store`: the store's ingest rate next to its two ceilings, measured in the same run.

* consume ceiling: raw pika consume of the same broker (quorum queue, prefetch 500, ack multiple
  every 100) of messages the size of the store's events;
* write ceiling: raw ``bulk_write`` of upserts (one ``$set`` + ``$push`` per document, batches of
  STORE_BATCH_SIZE) to the same SecantusDB with the store's write concern (w=majority, j=True);
* store: ``python -m services.store`` as a real process; the clock runs from the first publish
  until every event is durably applied (logged in generation_events after its effect), polled by
  the last event's ``_id`` (a count of the collection every 20 ms cost SecantusDB most of its time).

It starts its own SecantusDB and uses a fresh vhost; everything stops by itself.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pika
from pymongo import MongoClient, UpdateOne
from pymongo.collection import Collection

from services.common import topology
from services.common.events import encode
from services.common.mongo import DURABLE
from services.common.publisher import Publisher
from tests.store.conftest import ready
from tests.store.streams import many_generations
from tests.support.broker import fresh_vhost, wait_for_broker
from tests.support.mongo import EmbeddedMongo, free_port
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for


def consume_ceiling(url: str, count: int, body: bytes, queue: str = "bench.consume") -> float:
    spec = topology.QueueSpec(queue, (queue,))
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        topology.declare_queue(channel, spec, delivery_limit=20)
        for _ in range(count):  # filling the queue is not measured
            channel.basic_publish(topology.EXCHANGE, queue, body, pika.BasicProperties(delivery_mode=2))
        wait_for(lambda: channel.queue_declare(spec.name, passive=True).method.message_count >= count,
                 timeout=120, message="the consume queue filled")
        channel.basic_qos(prefetch_count=500)
        seen = 0
        start = time.perf_counter()
        for method, _properties, _body in channel.consume(spec.name, inactivity_timeout=10):
            if method is None:
                raise RuntimeError(f"consume stalled after {seen} of {count} messages")
            seen += 1
            if seen % 100 == 0 or seen == count:
                channel.basic_ack(method.delivery_tag, multiple=True)
            if seen == count:
                break
        elapsed = time.perf_counter() - start
        channel.cancel()
        return count / elapsed
    finally:
        connection.close()


def write_ceiling(uri: str, count: int, batch_size: int, db_name: str = "bench_ceiling") -> float:
    with MongoClient(uri, tz_aware=True) as client:
        collection = client[db_name].get_collection("docs", write_concern=DURABLE)
        ops = [UpdateOne({"_id": f"doc-{i}"}, {"$set": {"name": "Vegetarian Lasagne", "n": i},
                                               "$push": {"items": {"tool_call_id": f"call_{i}", "quantity": "2"}}},
                         upsert=True) for i in range(count)]
        start = time.perf_counter()
        for offset in range(0, count, batch_size):
            collection.bulk_write(ops[offset:offset + batch_size], ordered=True)
        return count / (time.perf_counter() - start)


def store_rate(url: str, uri: str, generations: int, batch_size: int, db_name: str = "bench_store"
               ) -> tuple[float, int]:
    port = free_port()
    env = {"RABBITMQ_URL": url, "MONGO_URI": uri, "MONGO_DB": db_name, "PROBE_PORT": str(port),
           "STORE_BATCH_SIZE": str(batch_size), "LOG_LEVEL": "WARNING"}
    store = ServiceProcess("services.store", env, name="bench-store").start()
    publisher = Publisher(url, name="bench-runner").start()
    try:
        wait_for(lambda: ready(port) or not store.running, timeout=60, message="store ready")
        if not store.running:
            raise RuntimeError(f"the store exited:\n{store.log()[-3000:]}")
        events = many_generations(generations)
        with MongoClient(uri) as client:
            log = client[db_name]["generation_events"]
            start = time.perf_counter()
            for offset in range(0, len(events), 1000):
                publisher.publish(events[offset:offset + 1000], timeout=60)
            wait_for(lambda: all_applied(log, events), timeout=600, interval=0.02, message="every event applied")
            elapsed = time.perf_counter() - start
        return len(events) / elapsed, len(events)
    finally:
        publisher.close()
        store.terminate(timeout=60)
        Path(store.log_path).unlink(missing_ok=True)


def all_applied(log: Collection, events: list) -> bool:
    """Every event logged (so applied). The poll must not load the server it measures: SecantusDB
    counts a collection by scanning it (64 ms at 10k documents; polled every 20 ms that took most
    of its time), so poll the last event's ``_id`` (the store applies batches in queue order) and
    count only once that is there."""
    if log.find_one({"_id": events[-1].id}, {"_id": 1}) is None:
        return False
    return log.count_documents({}) >= len(events)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=313, help="seed generations of 32 events (313: 10,016)")
    parser.add_argument("--batch-size", type=int, default=500, help="STORE_BATCH_SIZE and the ceiling's bulk size")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of all three; the best of each is compared")
    args = parser.parse_args()
    wait_for_broker()
    consume, write, store = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp, fresh_vhost("bench") as url:
        server = EmbeddedMongo(Path(tmp) / "data").start()
        try:
            body = encode(many_generations(1)[10])
            for round_ in range(1, args.rounds + 1):
                consume.append(consume_ceiling(url, 20_000, body, queue=f"bench.consume.{round_}"))
                write.append(write_ceiling(server.uri, 10_000, args.batch_size, db_name=f"bench_ceiling_{round_}"))
                rate, count = store_rate(url, server.uri, args.generations, args.batch_size, f"bench_store_{round_}")
                store.append(rate)
                print(f"round {round_}: consume {consume[-1]:,.0f} msg/s, write {write[-1]:,.0f} docs/s, "
                      f"store {rate:,.0f} events/s", flush=True)
        finally:
            server.stop()
    best_consume, best_write, best_store = max(consume), max(write), max(store)
    print(f"consume ceiling: {best_consume:,.0f} msg/s (20,000 x {len(body)} B, quorum queue, prefetch 500, "
          f"ack multiple every 100)")
    print(f"durable bulk-write ceiling: {best_write:,.0f} docs/s (10,000 upserts with $set+$push, bulks of "
          f"{args.batch_size}, w=majority j=true)")
    print(f"store ingest: {best_store:,.0f} events/s ({count:,} events, publish to durable write, "
          f"STORE_BATCH_SIZE={args.batch_size})")
    tighter, name = min((best_consume, "consume"), (best_write, "write"))
    print(f"ratio={best_store / tighter:.2f} (store / tighter ceiling = {name}; best of {args.rounds} rounds each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
