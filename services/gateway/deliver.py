"""Entrypoint of the webhook deliverer: consumes ``gateway.webhooks`` (recipe.#) in its own process.

Why a process of its own (``python -m services.gateway deliver``) rather than a
thread in gunicorn: a thread per worker would multiply consumers by the worker
count and die with recycled workers; a thread in the gunicorn master would
open a pika connection in the process that forks. A separate process scales
and restarts on its own, and the HTTP workers stay request-only.
"""
from __future__ import annotations

import logging
import threading

from services.common import topology
from services.common.config import Settings
from services.common.consumer import Consumer
from services.common.lifecycle import on_shutdown_signal
from services.common.mongo import close_quickly, connect, transient, until_reachable
from services.common.probes import serve_probes
from services.gateway.delivery import Deliverer
from services.gateway.mongo import GatewayStore
from services.gateway.options import GatewayOptions

log = logging.getLogger(__name__)


def run_deliveries(settings: Settings, options: GatewayOptions) -> None:
    client = connect(settings.require_mongo_uri(), app_name="gateway-deliver")
    store = GatewayStore(client, settings.mongo_db)
    # Attempts run on the deliverer's own pool, at most a few per subscription, so a dead target
    # holds a few threads and never the queue; the consumer only records pending deliveries.
    deliverer = Deliverer(store, options, allow_private=settings.webhook_allow_private_targets,
                          ports=settings.webhook_allowed_ports)
    # Recording is quick (one subscriptions read and one bulk write per batch): a few workers suffice.
    # MongoDB unreachable while recording: the batch is held and retried, not requeued.
    consumer = Consumer(settings.rabbitmq_url, topology.GATEWAY_WEBHOOKS, deliverer.handle,
                        delivery_limit=settings.delivery_limit, batch_size=100,
                        prefetch=400, workers=2, stop_timeout=10.0, transient=transient,
                        quorum_group_size=settings.rabbitmq_quorum_group_size)
    stopping = threading.Event()

    def stop() -> None:
        stopping.set()
        consumer.stop()

    probes = None
    if settings.probe_port:
        probes = serve_probes(settings.probe_port, {"broker": lambda: consumer.consuming, "mongodb": store.ping})
    on_shutdown_signal(stop)
    log.info("webhook deliverer starting", extra={"queue": topology.GATEWAY_WEBHOOKS.name})
    try:
        # MongoDB not up yet (everything started at once): wait for it rather than exit.
        until_reachable(store.ensure_indexes, stopping, "creating the deliverer's indexes")
        deliverer.start()
        consumer.run()
    except Exception as error:
        if not (stopping.is_set() and transient(error)):
            raise
        log.info("stopped while waiting for MongoDB")
    finally:
        # The scheduler may be inside a MongoDB call that waits out server selection: not joined for
        # long (a daemon; a claim it makes now expires and is retried).
        deliverer.close(timeout=1.0)
        if probes is not None:
            probes.shutdown()
        close_quickly(client)
