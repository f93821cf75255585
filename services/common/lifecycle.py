"""Process lifecycle: stop cleanly on SIGTERM and SIGINT."""
from __future__ import annotations

import logging
import signal
from typing import Callable


def on_shutdown_signal(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGTERM/SIGINT (in the main thread); a second signal exits at once."""
    state = {"signalled": False}

    def handler(signum: int, _frame: object) -> None:
        if state["signalled"]:
            raise SystemExit(128 + signum)
        state["signalled"] = True
        logging.getLogger(__name__).info("shutdown signal received", extra={"signal": signal.Signals(signum).name})
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
