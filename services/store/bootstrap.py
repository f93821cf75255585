"""Wiring: every adapter is a parameter with the production default."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from pymongo import MongoClient

from services.common import topology
from services.common.config import Settings
from services.common.consumer import Consumer
from services.common.mongo import close_quickly, connect, transient, until_reachable
from services.common.publisher import Publisher
from services.store.handlers import StoreHandler
from services.store.mongo import StoreDatabase


@dataclass
class Store:
    consumer: Consumer
    publisher: Publisher
    client: MongoClient
    db: StoreDatabase
    stopping: threading.Event

    def run(self) -> None:
        """Create the indexes (waiting for MongoDB if needed), then consume until ``stop``."""
        try:
            until_reachable(self.db.ensure_indexes, self.stopping, "creating the store's indexes")
        except Exception as error:
            if self.stopping.is_set() and transient(error):
                return  # stopped before MongoDB came back: nothing was consumed
            raise
        if not self.stopping.is_set():
            self.consumer.run()

    def stop(self) -> None:
        """Signal-safe: stop taking messages, finish the batch in hand (bounded), then ``run`` returns."""
        self.stopping.set()
        self.consumer.stop()

    def ready(self) -> bool:
        return self.consumer.consuming and self.db.ping()

    def close(self) -> None:
        self.publisher.close()
        close_quickly(self.client)  # bounded: a stop while MongoDB is gone must not wait for it


def bootstrap(settings: Settings, *, client: MongoClient | None = None,
              publisher: Publisher | None = None) -> Store:
    client = client or connect(settings.require_mongo_uri(), app_name="store")
    publisher = publisher or Publisher(settings.rabbitmq_url, name="store-publisher").start()
    db = StoreDatabase(client[settings.mongo_db])
    stopping = threading.Event()
    handler = StoreHandler(db=db, publisher=publisher)
    consumer = Consumer(
        settings.rabbitmq_url, topology.STORE_EVENTS, handler,
        delivery_limit=settings.delivery_limit, quorum_group_size=settings.rabbitmq_quorum_group_size,
        batch_size=settings.store_batch_size,
        # One batch at a time, in queue order: the runner publishes generation.completed after its
        # tool calls, so a reader that sees "completed" sees the whole recipe -- within one store.
        # With several stores, a store that loses its broker node has its unacked calls redelivered,
        # possibly after another store applied the completion: they are applied late and the recipe
        # is announced again with its new counts (docs/data-model.md). (Two workers were
        # ~1.5x faster here but let a later batch overtake an earlier one.) The next batch is what
        # arrives while this one writes (natural batching: no linger when idle).
        workers=1,
        prefetch=2 * settings.store_batch_size,
        transient=transient,  # MongoDB unreachable: the batch is held and retried, not requeued
    )
    return Store(consumer=consumer, publisher=publisher, client=client, db=db, stopping=stopping)
