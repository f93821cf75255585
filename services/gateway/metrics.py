"""Prometheus metrics of the gateway; multiprocess-aware when PROMETHEUS_MULTIPROC_DIR is set.

``__main__`` sets PROMETHEUS_MULTIPROC_DIR to a fresh temporary directory before
anything imports prometheus_client, so every gunicorn worker writes its own
files and ``/metrics`` (answered by any worker) sums them all.
"""
from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from pymongo import monitoring
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest,
                               multiprocess)

REQUESTS = Counter("gateway_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram("gateway_http_request_seconds", "HTTP request latency", ["method", "route"])
GENERATIONS_ACCEPTED = Counter("gateway_generations_accepted_total", "generation requests confirmed by the broker")
STREAMS_REFUSED = Counter("gateway_event_streams_refused_total", "SSE streams refused (503): the worker's "
                          "GATEWAY_SSE_MAX_STREAMS were all open")
# livesum: the sum over the workers alive now (a killed worker's streams are gone with it).
STREAMS_OPEN = Gauge("gateway_event_streams_open", "SSE streams open now", multiprocess_mode="livesum")
PUBLISH_FAILURES = Counter("gateway_publish_failures_total", "generation requests refused because the broker "
                           "did not confirm", ["reason"])
# Every command the gateway sends MongoDB, by name: what an idle open event stream costs (none).
MONGODB_COMMANDS = Counter("gateway_mongodb_commands_total", "MongoDB commands sent by the gateway", ["command"])


class CommandCounter(monitoring.CommandListener):
    """Counts each command as it starts (a pymongo event listener on the gateway's client)."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        MONGODB_COMMANDS.labels(event.command_name).inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _route() -> str:
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("request_started")
        route = _route()
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        if started is not None:
            LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        return response


def exposition() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        payload = generate_latest(registry)
    else:
        payload = generate_latest()
    return Response(payload, content_type=CONTENT_TYPE_LATEST)
