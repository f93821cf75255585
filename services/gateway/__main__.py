"""`python -m services.gateway`: the API under gunicorn; `python -m services.gateway deliver`: webhooks.

PROMETHEUS_MULTIPROC_DIR is set before prometheus_client is imported anywhere,
so every worker's metrics land in one directory that /metrics sums up.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile


def _serve() -> int:
    own_metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_metrics_dir = tempfile.mkdtemp(prefix="gateway-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_metrics_dir
    from services.common.config import ConfigError, load_settings
    from services.common.logs import configure_logging
    from services.gateway.options import load_options

    try:
        settings, options = load_settings(), load_options()
        settings.require_mongo_uri()
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging("gateway", settings.log_level)
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
    from services.common.config import ConfigError, load_settings
    from services.common.logs import configure_logging
    from services.gateway.options import load_options

    try:
        settings, options = load_settings(), load_options()
        settings.require_mongo_uri()
    except ConfigError as exc:
        print(f"gateway deliver: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging("gateway-deliver", settings.log_level)
    from services.gateway.deliver import run_deliveries
    run_deliveries(settings, options)
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "serve"
    if command == "serve":
        return _serve()
    if command == "deliver":
        return _deliver()
    print("usage: python -m services.gateway [serve|deliver]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
