"""Structured logs: one JSON object per line on stderr, with the service name."""
from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        static_fields={"service": service},
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pika logs every reconnect attempt at WARNING/ERROR with tracebacks; ours say it once.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
