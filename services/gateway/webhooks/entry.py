"""Entrypoint of the webhook deliverer: consumes ``gateway.webhooks`` (recipe.#) in its own process.

Why a process of its own (``python -m services.gateway deliver``) rather than a
thread in gunicorn: a thread per worker would multiply consumers by the worker
count and die with recycled workers; a thread in the gunicorn master would
open a pika connection in the process that forks. A separate process scales
and restarts on its own, and the HTTP workers stay request-only.
"""
from __future__ import annotations

import logging

from services.common import topology
from services.common.config import Settings
from services.common.lifecycle import on_shutdown_signal
from services.common.mongo import transient
from services.common.probes import serve_probes
from services.gateway.bootstrap import Webhooks, bootstrap_webhooks

log = logging.getLogger(__name__)


def run_deliveries(settings: Settings, webhooks: Webhooks | None = None) -> None:
    webhooks = webhooks or bootstrap_webhooks(settings)
    probes = None
    if settings.probe_port:
        probes = serve_probes(settings.probe_port, {"broker": webhooks.ready, "mongodb": webhooks.store.ping})
    on_shutdown_signal(webhooks.stop)
    log.info("webhook deliverer starting", extra={"queue": topology.GATEWAY_WEBHOOKS.name})
    try:
        webhooks.run()
    except Exception as error:
        if not (webhooks.stopping.is_set() and transient(error)):
            raise
        log.info("stopped while waiting for MongoDB")
    finally:
        webhooks.close()
        if probes is not None:
            probes.shutdown()
