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
    """Settings and gateway options, validated, with logging set up; None (and a message) on a bad value."""
    from services.common.config import ConfigError, load_settings
    from services.common.logs import configure_logging
    from services.gateway.options import load_options

    try:
        settings, options = load_settings(), load_options()
        settings.require_mongo_uri()
    except ConfigError as exc:
        print(f"{name.replace('-', ' ')}: configuration error: {exc}", file=sys.stderr)
        return None
    configure_logging(name, settings.log_level)
    return settings, options


def _serve() -> int:
    own_metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_metrics_dir = tempfile.mkdtemp(prefix="gateway-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_metrics_dir
    configured = _configure("gateway")
    if configured is None:
        return 2
    settings, options = configured
    from services.gateway.server import GatewayServer
    master = os.getpid()
    try:
        GatewayServer(settings, options).run()
    finally:
        # Forked workers unwind through here too (gunicorn exits them with SystemExit): only the master cleans up.
        if own_metrics_dir and os.getpid() == master:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)
    return 0


def _deliver() -> int:
    configured = _configure("gateway-deliver")
    if configured is None:
        return 2
    settings, options = configured
    from services.gateway.webhooks.entry import run_deliveries
    run_deliveries(settings, options)
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
    from services.gateway.options import GATEWAY_VARIABLES

    return ("usage: python -m services.gateway [serve|deliver]\n\n"
            "serve (default): the HTTP API under gunicorn; deliver: the webhook deliverer.\n\n"
            + environment_help("gateway", dict(GATEWAY_VARIABLES)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
