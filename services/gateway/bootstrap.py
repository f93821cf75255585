"""Wiring: every adapter is a parameter with the production default (as services/store/bootstrap.py).

``bootstrap`` builds what the HTTP API's request handlers use (``Resources``, given
to ``create_app``); ``bootstrap_webhooks`` builds the webhook deliverer's process
(``python -m services.gateway deliver``).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from pymongo import MongoClient

from services.common import registration
from services.common.config import Settings, load_settings
from services.common.consumer import Consumer
from services.common.mongo import close_quickly, connect, until_reachable
from services.common.publisher import Publisher
from services.gateway.amqp import EventBus
from services.gateway.consumers import deliverer_consumers
from services.gateway.live import LiveEvents
from services.gateway.metrics import CommandCounter
from services.gateway.mongo import GatewayStore
from services.gateway.resources import ProcessStore, Resources
from services.gateway.watcher import EventsWatcher
from services.gateway.webhooks.notices import Notices
from services.gateway.webhooks.recorder import Recorder
from services.gateway.webhooks.scheduler import Scheduler, utc_now
from services.gateway.webhooks.sender import Sender


def bootstrap(settings: Settings | None = None, *, bus: EventBus | None = None,
              open_store: Callable[[], GatewayStore] | None = None, watcher: EventsWatcher | None = None) -> Resources:
    """Per worker process (the app is built after the fork); nothing connects until first used."""
    settings = settings or load_settings()
    bus = bus or EventBus(settings.rabbitmq_url, settings.delivery_limit, settings.rabbitmq_quorum_group_size)

    def open_default() -> GatewayStore:
        client = connect(settings.require_mongo_uri(), app_name="gateway", event_listeners=[CommandCounter()])
        return GatewayStore(client, settings.mongo_db)

    store = ProcessStore(open_store or open_default)
    # The worker's open streams are woken by the store's events.recorded (its own queue), not by polling.
    watcher = watcher or EventsWatcher(lambda on_news, on_connected: LiveEvents(settings.rabbitmq_url, on_news,
                                                                                on_connected),
                                       safety_seconds=settings.gateway_sse_safety_read_seconds)
    return Resources(settings, bus=bus, store=store, watcher=watcher,
                     stream_slots=threading.BoundedSemaphore(settings.gateway_sse_max_streams))


@dataclass
class Webhooks:
    """The webhook deliverer: the consumer records pending deliveries, the scheduler attempts them."""
    consumer: Consumer
    scheduler: Scheduler
    store: GatewayStore
    client: MongoClient
    stopping: threading.Event
    publisher: Publisher | None = None  # subscription.disabled notices

    def run(self) -> None:
        """Create the indexes (waiting for MongoDB if needed), start the scheduler, consume until ``stop``."""
        # MongoDB not up yet (everything started at once): wait for it rather than exit.
        until_reachable(self.store.ensure_indexes, self.stopping, "creating the deliverer's indexes")
        self.scheduler.start()
        self.consumer.run()

    def stop(self) -> None:
        """Signal-safe: stop taking messages; ``run`` returns."""
        self.stopping.set()
        self.consumer.stop()

    def ready(self) -> bool:
        return self.consumer.consuming

    def close(self) -> None:
        # The scheduler may be inside a MongoDB call that waits out server selection: not joined for
        # long (a daemon; a claim it makes now expires and is retried).
        self.scheduler.close(timeout=1.0)
        if self.publisher is not None:
            self.publisher.close()
        close_quickly(self.client)


def bootstrap_webhooks(settings: Settings, *, client: MongoClient | None = None,
                       sender: Sender | None = None, publisher: Publisher | None = None) -> Webhooks:
    client = client or connect(settings.require_mongo_uri(), app_name="gateway-deliver")
    store = GatewayStore(client, settings.mongo_db)
    sender = sender or Sender(allow_private=settings.webhook_allow_private_targets,
                              ports=settings.webhook_allowed_ports, timeout=settings.webhook_timeout_seconds,
                              allow_http=settings.webhook_allow_http)
    publisher = publisher or Publisher(settings.rabbitmq_url, name="gateway-deliver-notices").start()
    # Nobody may listen for subscription.# yet: an unroutable notice still counts as published.
    notices = Notices(store.webhooks, sender, lambda event: publisher.publish(
        [event], timeout=settings.gateway_publish_timeout, allow_unroutable=True), clock=utc_now)
    # Attempts run on the scheduler's own pool, at most a few per subscription, so a dead target
    # holds a few threads and never the queue; the consumer only records pending deliveries.
    scheduler = Scheduler(store.webhooks, sender, settings, on_disabled=notices.disabled)
    recorder = Recorder(store.webhooks, store.requests, handoff=scheduler)
    consumer = registration.only(deliverer_consumers(recorder, settings), settings)
    return Webhooks(consumer=consumer, scheduler=scheduler, store=store, client=client, stopping=threading.Event(),
                    publisher=publisher)
