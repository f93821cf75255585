"""Signed webhook delivery of response.completed|failed|incomplete|cancelled (Standard Webhooks, docs/emulator.md)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from typing import Any

import requests

from services.emulator.state import State

log = logging.getLogger(__name__)
ATTEMPTS = 4


def signing_key(secret: str) -> bytes:
    return base64.b64decode(secret[len("whsec_"):]) if secret.startswith("whsec_") else secret.encode("utf-8")


def signed_headers(secret: str, webhook_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The webhook-id / webhook-timestamp / webhook-signature headers for ``body``."""
    content = f"{webhook_id}.{timestamp}.{body}".encode("utf-8")
    signature = base64.b64encode(hmac.new(signing_key(secret), content, hashlib.sha256).digest()).decode()
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{signature}",
            "content-type": "application/json"}


def event_payload(kind: str, response_id: str) -> dict[str, Any]:
    return {"id": f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": kind, "created_at": int(time.time()),
            "data": {"id": response_id}}


def _deliver(st: State, url: str, secret: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload)
    for attempt in range(ATTEMPTS):
        try:
            headers = signed_headers(secret, payload["id"], int(time.time()), body)
            answer = requests.post(url, data=body.encode("utf-8"), headers=headers, timeout=10)
            if 200 <= answer.status_code < 300:
                with st.lock:
                    st.webhooks["delivered"] += 1
                return
        except requests.RequestException as exc:
            log.warning("webhook delivery failed", extra={"url": url, "attempt": attempt, "error": str(exc)})
        time.sleep(0.2 * 2 ** attempt)
    with st.lock:
        st.webhooks["failed"] += 1


def flush(st: State, events: list[dict[str, Any]]) -> None:
    """Send (in background threads) the terminal events a state change produced; the list is emptied."""
    pending, events[:] = list(events), []
    if not st.webhook_url or not st.webhook_secret:
        return
    for event in pending:
        payload = event_payload(event["type"], event["response_id"])
        threading.Thread(target=_deliver, args=(st, st.webhook_url, st.webhook_secret, payload), daemon=True).start()
