"""Wiring: every adapter is a parameter with the production default."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from pymongo import MongoClient
from pymongo.errors import ConnectionFailure
from tenacity import (Retrying, retry_if_exception_type, stop_any, stop_never, stop_when_event_set,
                      wait_exponential_jitter)

from services.common import topology
from services.common.config import Settings
from services.common.consumer import Consumer
from services.common.mongo import connect
from services.common.publisher import Publisher
from services.store.handlers import StoreHandler
from services.store.mongo import StoreDatabase

log = logging.getLogger(__name__)


@dataclass
class Store:
    consumer: Consumer
    publisher: Publisher
    client: MongoClient
    db: StoreDatabase
    stopping: threading.Event

    def run(self) -> None:
        """Create the indexes (waiting for MongoDB if needed), then consume until ``stop``."""
        retrying = Retrying(
            retry=retry_if_exception_type(ConnectionFailure),
            wait=wait_exponential_jitter(multiplier=0.2, max=5.0),
            stop=stop_any(stop_never, stop_when_event_set(self.stopping)),
            before_sleep=lambda state: log.warning(
                "MongoDB unreachable at start-up, retrying",
                extra={"error": repr(state.outcome.exception() if state.outcome else None)}),
            reraise=True,
        )
        retrying(self.db.ensure_indexes)
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
        self.client.close()


def bootstrap(settings: Settings, *, client: MongoClient | None = None,
              publisher: Publisher | None = None) -> Store:
    client = client or connect(settings.require_mongo_uri(), app_name="store")
    publisher = publisher or Publisher(settings.rabbitmq_url, name="store-publisher").start()
    db = StoreDatabase(client[settings.mongo_db])
    stopping = threading.Event()
    handler = StoreHandler(db=db, publisher=publisher, stopping=stopping)
    consumer = Consumer(
        settings.rabbitmq_url, topology.STORE_EVENTS, handler,
        delivery_limit=settings.delivery_limit,
        batch_size=settings.store_batch_size,
        # Under load, acks free prefetch slots a few at a time; wait a little longer for a full batch
        # (each batch costs a fixed number of journaled round trips).
        batch_wait=0.2,
        # One batch at a time, in queue order: the runner publishes generation.completed after its
        # tool calls, so a reader that sees "completed" sees the whole recipe. (Two workers were
        # ~1.5x faster here but let a later batch overtake an earlier one.) The next batch waits
        # prefetched while this one writes.
        workers=1,
        prefetch=2 * settings.store_batch_size,
    )
    return Store(consumer=consumer, publisher=publisher, client=client, db=db, stopping=stopping)
