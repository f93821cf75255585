"""gunicorn, run programmatically: gevent workers, connections opened per worker after the fork.

Why gevent: nearly all of a request's time is spent waiting, for the broker's
confirm and for a durable MongoDB write, and SSE streams wait for minutes. On
threads, every wait is a GIL hand-off and an OS thread switch (about 28 context
switches per accepted generation), which cost more CPU than the request's own
work; on greenlets, a wait is a cheap switch inside one thread, and many more
requests can be in flight per worker, so the group commit of request records
gathers bigger batches. Measured with ``python -m bench.gateway`` (BENCHMARKS.md).
The worker monkey-patches the standard library after the fork, before the app
(pika, pymongo) is built, so their sockets, locks and threads become cooperative.
"""
from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import TYPE_CHECKING, cast

from flask import Flask
from gunicorn.app.base import BaseApplication
from prometheus_client import multiprocess

from services.common.config import Settings

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker


def _child_exit(_server: Arbiter, worker: Worker) -> None:
    multiprocess.mark_process_dead(worker.pid)


def _post_worker_init(worker: Worker) -> None:
    """In each worker, once its app is built: bind its events.recorded queue now (so the first event
    stream is live from its start), and on SIGTERM end the worker's open event streams promptly
    (their clients reconnect with Last-Event-ID, elsewhere) instead of holding the shutdown for
    graceful_timeout; then gunicorn's own handling: stop accepting, finish the requests in flight."""
    resources = cast(Flask, worker.wsgi).extensions.get("gateway")
    if resources is None:  # another app (the bench's bare endpoint)
        return
    resources.watcher.start()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        resources.watcher.close_streams()
        worker.handle_exit(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn does: do not interrupt system calls


class GatewayServer(BaseApplication):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        config = {
            "bind": self.settings.gateway_bind,
            "workers": self.settings.gateway_workers,
            "worker_class": "gevent",
            "worker_connections": self.settings.gateway_connections,
            "graceful_timeout": 20,
            "timeout": 60,
            "keepalive": 5,
            # gunicorn's largest: the longest query the OpenAPI document allows fits, percent-encoded (414 past it).
            "limit_request_line": 8190,
            "accesslog": None,
            "loglevel": self.settings.log_level.lower(),
            "child_exit": _child_exit,
            "post_worker_init": _post_worker_init,
            "control_socket_disable": True,  # one shared default path would clash between instances
            "preload_app": False,  # the app (and any connection) is built in each worker
        }
        for key, value in config.items():
            self.cfg.set(key, value)

    def load(self):
        from services.common import tracing
        from services.gateway.app import create_app
        logging.getLogger(__name__).info("gateway worker starting")
        tracing.configure("gateway")  # per worker, after the fork: the span exporter's thread is the worker's
        app = create_app(self.settings)
        tracing.instrument_flask(app)
        return app
