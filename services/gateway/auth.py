"""Optional bearer-token authentication of /v1/* (on when GATEWAY_API_KEYS is set)."""
from __future__ import annotations

import hashlib
import hmac

from flask import Flask, g, request

from services.gateway.problems import ApiProblem

CHALLENGE = 'Bearer realm="recipes"'
# Paths under /v1/ that authenticate otherwise (OpenAI's webhooks carry their own signature).
EXEMPT_PATHS = frozenset({"/v1/openai/webhooks"})


def check_bearer(header: str | None, keys: tuple[str, ...]) -> str | None:
    """The matching key's fingerprint, or None. Compares in constant time against every key."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    token = token.strip()
    matched = None
    for key in keys:
        if hmac.compare_digest(token.encode(), key.encode()):
            matched = hashlib.sha256(key.encode()).hexdigest()[:16]
    return matched


def principal() -> str:
    """Who is calling: the API key's fingerprint, or "" with API keys off (everything shared)."""
    return g.get("principal", "")


def init_app(app: Flask, keys: tuple[str, ...]) -> None:
    @app.before_request
    def _authenticate() -> None:
        g.principal = ""
        if not keys or not request.path.startswith("/v1/") or request.path in EXEMPT_PATHS:
            return
        principal = check_bearer(request.headers.get("Authorization"), keys)
        if principal is None:
            raise ApiProblem(401, "unauthorized", "Unauthorized",
                             "Send a valid API key as 'Authorization: Bearer <key>'.",
                             headers={"WWW-Authenticate": CHALLENGE})
        g.principal = principal
