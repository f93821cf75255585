"""Gateway-only knobs, read from the environment once (next to the shared ``Settings``).

Every one has a default that works on a developer machine; tests shorten the
time-bounded ones.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, TypeVar

from services.common.config import ConfigError

_N = TypeVar("_N", int, float)

# name -> (default, description)
GATEWAY_VARIABLES: dict[str, tuple[str, str]] = {
    "GATEWAY_PUBLISH_TIMEOUT": ("5", "seconds to wait for the broker's confirm before answering 503"),
    "GATEWAY_MAX_BODY_BYTES": ("262144", "largest request body accepted (413 above)"),
    "GATEWAY_BODY_TIMEOUT_SECONDS": ("10", "longest a client may take to send a request body (408 after); "
                                           "headers must arrive within 5 s (docs/security.md)"),
    "GATEWAY_CONNECTIONS": ("100", "requests and streams one gunicorn worker serves at once (gevent "
                                   "worker_connections); each open SSE stream holds one"),
    "GATEWAY_SSE_MAX_SECONDS": ("300", "longest an SSE stream stays open"),
    "GATEWAY_SSE_POLL_SECONDS": ("0.25", "how often a worker polls MongoDB for news of its open SSE streams "
                                         "(one poll for all)"),
    "GATEWAY_SSE_MAX_STREAMS": ("", "open SSE streams per worker (each holds a connection); more get 503. "
                                    "Default: half of GATEWAY_CONNECTIONS, at least 1"),
    "WEBHOOK_TIMEOUT_SECONDS": ("5", "deadline of one webhook POST, connect through the whole answer"),
    "WEBHOOK_GIVE_UP_SECONDS": ("3600", "after this long a delivery is given up and dead-lettered"),
    "WEBHOOK_MAX_BACKOFF_SECONDS": ("60", "longest wait between two attempts of one delivery"),
    "WEBHOOK_ROTATION_OVERLAP": ("86400", "seconds a subscription's previous secret still signs its deliveries "
                                          "after POST .../rotate-secret (both signatures are sent)"),
}


@dataclass(frozen=True)
class GatewayOptions:
    publish_timeout: float = 5.0
    max_body_bytes: int = 262144
    body_timeout: float = 10.0
    connections: int = 100
    sse_max_seconds: float = 300.0
    sse_poll_seconds: float = 0.25
    sse_max_streams: int = 50
    webhook_timeout: float = 5.0
    webhook_give_up: float = 3600.0
    webhook_max_backoff: float = 60.0
    webhook_rotation_overlap: float = 86400.0


def _number(env: Mapping[str, str], name: str, kind: type[_N]) -> _N:
    raw = env.get(name) or GATEWAY_VARIABLES[name][0]
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a {'number' if kind is float else 'integer'}") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be greater than 0")
    return value


def load_options(environ: Mapping[str, str] | None = None) -> GatewayOptions:
    env = os.environ if environ is None else environ
    if "GATEWAY_THREADS" in env:
        raise ConfigError("GATEWAY_THREADS no longer applies: gateway workers are gevent workers, not threads; "
                          "set GATEWAY_CONNECTIONS (requests one worker serves at once) instead")
    connections = _number(env, "GATEWAY_CONNECTIONS", int)
    # Streams hold a connection each for minutes: keep connections free for everything else.
    max_streams = _number(env, "GATEWAY_SSE_MAX_STREAMS", int) if env.get("GATEWAY_SSE_MAX_STREAMS") \
        else max(1, connections // 2)
    if max_streams > connections:
        raise ConfigError(f"GATEWAY_SSE_MAX_STREAMS={max_streams} is more than GATEWAY_CONNECTIONS={connections}: "
                          "streams would hold every connection and nothing else would be answered")
    return GatewayOptions(
        publish_timeout=_number(env, "GATEWAY_PUBLISH_TIMEOUT", float),
        max_body_bytes=_number(env, "GATEWAY_MAX_BODY_BYTES", int),
        body_timeout=_number(env, "GATEWAY_BODY_TIMEOUT_SECONDS", float),
        connections=connections,
        sse_max_seconds=_number(env, "GATEWAY_SSE_MAX_SECONDS", float),
        sse_poll_seconds=_number(env, "GATEWAY_SSE_POLL_SECONDS", float),
        sse_max_streams=max_streams,
        webhook_timeout=_number(env, "WEBHOOK_TIMEOUT_SECONDS", float),
        webhook_give_up=_number(env, "WEBHOOK_GIVE_UP_SECONDS", float),
        webhook_max_backoff=_number(env, "WEBHOOK_MAX_BACKOFF_SECONDS", float),
        webhook_rotation_overlap=_number(env, "WEBHOOK_ROTATION_OVERLAP", float),
    )
