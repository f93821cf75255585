"""`python -m services.store`: consume tool-call and generation events into MongoDB."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from services.common import tracing
from services.common.config import ConfigError, environment_help, load_settings
from services.common.lifecycle import on_shutdown_signal
from services.common.logs import configure_logging
from services.common.probes import serve_probes
from services.store.bootstrap import bootstrap


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.store",
                                     description="consume the runner's events into MongoDB; publish recipe events",
                                     epilog=environment_help("store"),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    parse_args(argv)
    try:
        settings = load_settings()
        settings.require_mongo_uri()
        tracing.exporters()  # a bad OTEL_* value stops here, with the others
    except ConfigError as error:
        print(f"store: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging("store", settings.log_level)
    tracing.configure("store")  # before bootstrap: MongoDB clients take their listeners at creation
    store = bootstrap(settings)
    on_shutdown_signal(store.stop)
    probes = None
    if settings.probe_port:
        probes = serve_probes(settings.probe_port, {"consuming": lambda: store.consumer.consuming,
                                                    "mongo": store.db.ping})
    try:
        store.run()
    finally:
        if probes is not None:
            probes.shutdown()
            probes.server_close()
        store.close()
        logging.getLogger(__name__).info("store stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
