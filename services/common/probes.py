"""Health, readiness and Prometheus metrics over HTTP for the non-HTTP services.

``/healthz``: the process is alive. ``/readyz``: every readiness check passes
(503 and the failing checks otherwise). ``/metrics``: Prometheus text format.
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Callable, Mapping
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

Check = Callable[[], bool]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


def probe_app(checks: Mapping[str, Check]):
    metrics = make_wsgi_app()

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)
        if path == "/healthz":
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/readyz":
            results = {}
            for name, check in checks.items():
                try:
                    results[name] = bool(check())
                except Exception:  # a check that raises is a failing check
                    logging.getLogger(__name__).debug("readiness check %s raised", name, exc_info=True)
                    results[name] = False
            ready = all(results.values())
            return _json(start_response, "200 OK" if ready else "503 Service Unavailable",
                         {"status": "ready" if ready else "not ready", "checks": results})
        return _json(start_response, "404 Not Found", {"status": "not found"})

    return app


def _json(start_response, status: str, body: dict) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def serve_probes(port: int, checks: Mapping[str, Check], host: str = "127.0.0.1") -> WSGIServer:
    """Serve the probes on a daemon thread; call ``shutdown()`` on the result to stop."""
    server = make_server(host, port, probe_app(checks), handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="probes", daemon=True).start()
    return server
