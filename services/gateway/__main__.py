"""`python -m services.gateway`: the API under gunicorn; `python -m services.gateway deliver`: webhooks.

PROMETHEUS_MULTIPROC_DIR is set before prometheus_client is imported anywhere,
so every worker's metrics land in one directory that /metrics sums up.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile


def _configure(name: str):
    """Settings, validated, with logging set up; None (and a message) on a bad value."""
    from services.common import tracing
    from services.common.config import ConfigError, load_settings
    from services.common.logs import configure_logging

    try:
        settings = load_settings()
        settings.require_mongo_uri()
        tracing.exporters()  # checked here, once: the gateway's workers turn tracing on after the fork
    except ConfigError as exc:
        print(f"{name.replace('-', ' ')}: configuration error: {exc}", file=sys.stderr)
        return None
    configure_logging(name, settings.log_level)
    return settings


def _serve() -> int:
    own_metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_metrics_dir = tempfile.mkdtemp(prefix="gateway-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_metrics_dir
    settings = _configure("gateway")
    if settings is None:
        return 2
    from services.gateway.server import GatewayServer
    master = os.getpid()
    try:
        GatewayServer(settings).run()
    finally:
        # Forked workers unwind through here too (gunicorn exits them with SystemExit): only the master cleans up.
        if own_metrics_dir and os.getpid() == master:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)
    return 0


def _deliver() -> int:
    settings = _configure("gateway-deliver")
    if settings is None:
        return 2
    from services.common import tracing
    from services.gateway.webhooks.entry import run_deliveries
    tracing.configure("gateway-deliver")
    run_deliveries(settings)
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "serve"
    if command == "serve":
        return _serve()
    if command == "deliver":
        return _deliver()
    if command in ("-h", "--help"):
        print(_help())
        return 0
    print("usage: python -m services.gateway [serve|deliver]", file=sys.stderr)
    return 2


def _help() -> str:
    from services.common.config import environment_help

    return ("usage: python -m services.gateway [serve|deliver]\n\n"
            "serve (default): the HTTP API under gunicorn; deliver: the webhook deliverer.\n\n"
            + environment_help("gateway"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
