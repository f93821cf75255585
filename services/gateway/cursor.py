"""Opaque pagination cursors: the sort key of the last item, base64url-encoded JSON."""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from services.gateway.problems import ApiProblem


def encode_cursor(created_at: datetime, item_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), item_id], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor stands for; 400 when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, item_id = json.loads(raw)
        if not isinstance(item_id, str) or not isinstance(created_at, str):
            raise ValueError("bad cursor fields")
        return datetime.fromisoformat(created_at), item_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ApiProblem(400, "invalid-request", "Invalid request", "cursor is not a valid cursor") from None
