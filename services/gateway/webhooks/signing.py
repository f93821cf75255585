"""Standard Webhooks signatures (the scheme the OpenAI docs cite): pure functions."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any, Mapping, Sequence

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with the key decoded from ``whsec_...``."""
    key = base64.b64decode(secret[len(SECRET_PREFIX):]) if secret.startswith(SECRET_PREFIX) else secret.encode()
    signed = f"{message_id}.{timestamp}.".encode("utf-8") + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def webhook_headers(secret: str, message_id: str, timestamp: int, body: bytes,
                    also: Sequence[str] = ()) -> dict[str, str]:
    """The headers of one delivery, signed with ``secret`` and each of ``also`` (space-separated
    signatures, as Standard Webhooks allows: a receiver accepts one that verifies with its secret)."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(key, message_id, timestamp, body) for key in (secret, *also)),
    }


def rotated(subscription: Mapping[str, Any], new: str, now: datetime, overlap_until: datetime) -> dict[str, Any]:
    """The secret fields after a rotation: ``new`` signs from now on, the current one as well until
    ``overlap_until`` (a secret rotated out earlier is dropped)."""
    return {"secret": new, "previous_secret": subscription["secret"], "previous_secret_until": overlap_until,
            "secret_rotated_at": now}


def previous_secrets(subscription: Mapping[str, Any], now: datetime) -> list[str]:
    """The rotated-out secret while its overlap lasts (signing with it too), else nothing."""
    until = subscription.get("previous_secret_until")  # tz-aware: the services' client reads dates so
    if subscription.get("previous_secret") and until is not None and now < until:
        return [subscription["previous_secret"]]
    return []

