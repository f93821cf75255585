"""/healthz (alive), /readyz (broker and MongoDB reachable) and /metrics (Prometheus)."""
from __future__ import annotations

import json
import logging

from flask import Blueprint, Response

from services.gateway import metrics
from services.gateway.problems import problem_response
from services.gateway.resources import resources

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> Response:
    return Response(json.dumps({"status": "ok"}), content_type="application/json")


def _mongo_ok() -> bool:
    try:
        return resources().store.ping()
    except Exception:  # any failure to reach MongoDB is "not ready"
        log.warning("readiness: MongoDB unreachable", exc_info=True)
        return False


@bp.get("/readyz")
def readyz() -> Response:
    res = resources()
    checks = {"broker": res.bus.ready(timeout=2.0), "mongodb": _mongo_ok(), "sse_watcher": res.watcher.running}
    if all(checks.values()):
        return Response(json.dumps({"status": "ready", "checks": checks}), content_type="application/json")
    failing = ", ".join(name for name, ok in checks.items() if not ok)
    return problem_response(503, "not-ready", "Service Unavailable", f"Not ready: {failing} unreachable.",
                            {"Retry-After": "5"}, checks=checks)


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    return metrics.exposition()
