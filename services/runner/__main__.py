"""``python -m services.runner [--stop-timeout S]``: consume generation requests and drive model runs.

Configuration comes from the environment (services.common.config); a bad
value exits with code 2 and a message naming it. SIGTERM/SIGINT: stop taking
requests, give in-flight generations ``--stop-timeout`` seconds to finish;
the rest are redelivered by the broker and resume from ``runner_runs``.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from typing import Sequence

from services.common import tracing
from services.common.config import ConfigError, environment_help, load_settings
from services.common.lifecycle import on_shutdown_signal
from services.common.logs import configure_logging
from services.common.probes import serve_probes
from services.runner.bootstrap import bootstrap

log = logging.getLogger("services.runner")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.runner", description=__doc__.split("\n")[0],
                                     epilog=environment_help("runner"),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stop-timeout", type=float, default=30.0,
                        help="seconds in-flight generations get to finish after SIGTERM (default 30)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings()
        configure_logging("runner", settings.log_level)
        logging.getLogger("httpx2").setLevel(logging.WARNING)  # one INFO line per model API request otherwise
        tracing.configure("runner")  # before bootstrap: MongoDB clients take their listeners at creation
        runner = bootstrap(settings, stop_timeout=args.stop_timeout)
    except ConfigError as exc:
        print(f"runner: configuration error: {exc}", file=sys.stderr)
        return 2
    probes = serve_probes(settings.probe_port, {"platform": lambda: runner.platform_ok,
                                                    "consuming": lambda: runner.ready}) if settings.probe_port else None
    on_shutdown_signal(runner.stop)
    log.info("runner started", extra={"backend": settings.model_backend, "model": settings.openai_model,
                                      "background": bool(runner.waiter),
                                      "concurrency": settings.runner_concurrency})
    try:
        runner.run()
    finally:
        runner.close()
        if probes is not None:
            probes.shutdown()
            probes.server_close()
    unfinished = [t for t in threading.enumerate()
                  if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    log.info("runner stopped", extra={"unfinished_workers": len(unfinished)})
    if unfinished:
        # Past the stop bound: their requests go back to the queue and resume elsewhere; don't wait on them.
        logging.shutdown()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
