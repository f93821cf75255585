"""W3C traceparent: continue the caller's trace (with a span of our own) or start a new one; used when
OpenTelemetry is off (with it on, services/common/tracing.py gives the request span's own)."""
from __future__ import annotations

import re
import secrets

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def continue_trace(header: str | None) -> str:
    match = _TRACEPARENT.match((header or "").strip().lower())
    if match and set(match.group(1)) != {"0"} and set(match.group(2)) != {"0"}:
        return f"00-{match.group(1)}-{secrets.token_hex(8)}-{match.group(3)}"
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
