"""`python -m bench.store.phases`: where one store batch's time goes, phase by phase.

Decodes batches of seed events, runs ``handlers.persist`` on them against a fresh SecantusDB and
publishes the recipe events with confirms (a fresh vhost; no consumer), with every
``StoreDatabase`` method and every collection call timed. Two workloads: ``sequential``
(generations one after the other, as ``bench.store`` publishes them: ~16 generations per
batch of 500) and ``interleaved`` (as ``bench.e2e``: many generations in flight, so a batch
touches hundreds of generations and recipes).
"""
from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from pymongo import MongoClient

from services.common.events import decode, encode
from services.common.publisher import Publisher
from services.store import domain, handlers
from services.store.mongo import StoreDatabase
from services.store.outcomes import recipe_events
from tests.store.streams import many_generations
from tests.support.broker import fresh_vhost
from tests.support.mongo import EmbeddedMongo

TIMES: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def _timed(name, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
            if name.endswith(".find"):
                result = list(result)  # the cursor's round trips belong to the query
            return result
        finally:
            TIMES[name] += time.perf_counter() - start
            CALLS[name] += 1
    return wrapper


class _Collection:
    """Times every call on a pymongo collection; lists cursors so their fetches count."""

    def __init__(self, name, collection):
        self._name, self._collection = name, collection

    def __getattr__(self, attr):
        value = getattr(self._collection, attr)
        return _timed(f"{self._name}.{attr}", value) if callable(value) else value


def instrument(db: StoreDatabase) -> None:
    for name in ("recipes", "generations", "events"):
        setattr(db, name, _Collection(name, getattr(db, name)))
    for name in ("apply", "finish_recipes", "find_generations", "find_recipes", "_item_calls", "_write"):
        setattr(db, name, _timed(f"db.{name}", getattr(db, name)))


def workload(kind: str, generations: int) -> list:
    events = many_generations(generations)
    if kind == "sequential":
        return events
    per = len(events) // generations  # round robin: every generation's n-th event, then the n+1-th
    return [events[g * per + i] for i in range(per) for g in range(generations)]


def run(uri: str, publisher: Publisher, kind: str, generations: int, batch_size: int) -> None:
    TIMES.clear()
    CALLS.clear()
    events = workload(kind, generations)
    bodies = [encode(e) for e in events]
    with MongoClient(uri, tz_aware=True) as client:
        client.drop_database(f"phases_{kind}")
        db = StoreDatabase(client[f"phases_{kind}"])
        db.ensure_indexes()
        instrument(db)
        handlers.recipe_events = _timed("recipe_events (outcomes)", recipe_events)
        persist = _timed("persist (all)", handlers.persist)
        publish = _timed("publish (confirmed)", publisher.publish)
        start = time.perf_counter()
        for offset in range(0, len(bodies), batch_size):
            t = time.perf_counter()
            batch = [decode(b) for b in bodies[offset:offset + batch_size]]
            for e in batch:
                domain.changes_for(e)
            TIMES["decode+domain"] += time.perf_counter() - t
            publish(persist(db, batch), timeout=60, allow_unroutable=True)
        total = time.perf_counter() - start
    batches = -(-len(events) // batch_size)
    print(f"\n{kind}: {len(events):,} events, {batches} batches of {batch_size}, {total:.2f} s "
          f"({len(events) / total:,.0f} events/s, {total / batches * 1000:.0f} ms/batch)")
    for name, seconds in sorted(TIMES.items(), key=lambda kv: -kv[1]):
        print(f"  {name:28s} {seconds / batches * 1000:8.1f} ms/batch  {CALLS.get(name, batches) / batches:5.1f} "
              f"calls/batch  {seconds / total:6.1%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=313)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--workload", choices=["sequential", "interleaved", "both"], default="both")
    args = parser.parse_args()
    kinds = ["sequential", "interleaved"] if args.workload == "both" else [args.workload]
    with tempfile.TemporaryDirectory(prefix="bench-phases-") as tmp, fresh_vhost("phases") as url:
        server = EmbeddedMongo(Path(tmp) / "data").start()
        publisher = Publisher(url, name="phases").start()
        try:
            for kind in kinds:
                run(server.uri, publisher, kind, args.generations, args.batch_size)
        finally:
            publisher.close()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
