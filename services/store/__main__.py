"""`python -m services.store`: consume tool-call and generation events into MongoDB."""
from __future__ import annotations

import logging
import sys

from services.common.config import ConfigError, load_settings
from services.common.lifecycle import on_shutdown_signal
from services.common.logs import configure_logging
from services.common.probes import serve_probes
from services.store.bootstrap import bootstrap


def main() -> int:
    try:
        settings = load_settings()
        settings.require_mongo_uri()
    except ConfigError as error:
        print(f"store: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging("store", settings.log_level)
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
