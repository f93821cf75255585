"""``python -m services.runner``: consume generation requests and drive model runs."""
from __future__ import annotations

import logging
import sys

from services.common.config import ConfigError, load_settings
from services.common.lifecycle import on_shutdown_signal
from services.common.logs import configure_logging
from services.common.probes import serve_probes
from services.runner.bootstrap import bootstrap

# In-flight generations get this long to finish after SIGTERM; the rest are redelivered and resume.
STOP_TIMEOUT = 30.0


def main() -> int:
    try:
        settings = load_settings()
        configure_logging("runner", settings.log_level)
        logging.getLogger("httpx2").setLevel(logging.WARNING)  # one INFO line per model API request otherwise
        runner = bootstrap(settings, stop_timeout=STOP_TIMEOUT)
    except ConfigError as exc:
        print(f"runner: configuration error: {exc}", file=sys.stderr)
        return 2
    log = logging.getLogger("services.runner")
    probes = None
    if settings.probe_port:
        probes = serve_probes(settings.probe_port, {"consuming": lambda: runner.ready})
    on_shutdown_signal(runner.stop)
    log.info("runner started", extra={"backend": settings.model_backend, "model": settings.openai_model,
                                      "concurrency": settings.runner_concurrency})
    try:
        runner.run()
    finally:
        runner.close()
        if probes is not None:
            probes.shutdown()
            probes.server_close()
        log.info("runner stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
