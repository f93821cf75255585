"""Wiring: every adapter is a parameter with the production default."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from pymongo import MongoClient

from services.common import registration
from services.common.config import Settings
from services.common.consumer import Consumer
from services.common.mongo import close_quickly, connect, transient, until_reachable
from services.common.publisher import Publisher
from services.store.consumers import consumers
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
    consumer = registration.only(consumers(handler, settings.store_batch_size), settings)
    return Store(consumer=consumer, publisher=publisher, client=client, db=db, stopping=stopping)
