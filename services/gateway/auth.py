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


def scope() -> str | None:
    """Whose data the caller reads: None for everyone's (API keys off, or an operator key), else the
    caller's fingerprint (docs/security.md, Tenancy)."""
    who = principal()
    return None if not who or g.get("operator", False) else who


def init_app(app: Flask, keys: tuple[str, ...], operator_keys: tuple[str, ...] = ()) -> None:
    every_key = keys + tuple(key for key in operator_keys if key not in keys)

    @app.before_request
    def _authenticate() -> None:
        g.principal, g.operator = "", False
        if not every_key or not request.path.startswith("/v1/") or request.path in EXEMPT_PATHS:
            return
        principal = check_bearer(request.headers.get("Authorization"), every_key)
        if principal is None:
            raise ApiProblem(401, "unauthorized", "Unauthorized",
                             "Send a valid API key as 'Authorization: Bearer <key>'.",
                             headers={"WWW-Authenticate": CHALLENGE})
        g.principal = principal
        g.operator = check_bearer(request.headers.get("Authorization"), operator_keys) is not None
