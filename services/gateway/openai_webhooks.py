"""POST /v1/openai/webhooks: OpenAI's signed webhooks in, ``model.response_finished`` events out.

The signature is the authentication (Standard Webhooks, checked by the openai
SDK's ``webhooks.unwrap`` with OPENAI_WEBHOOK_SECRET; timestamps older or newer
than 300 s are refused, so a captured delivery cannot be replayed later), so the
gateway's API keys do not apply here. A terminal ``response.*`` event is
published with a confirm before the 200; its id is derived from the
``webhook-id``, so a redelivered webhook is a duplicate consumers drop. Other
event types are acknowledged and ignored (OpenAI sends more kinds than we use).
"""
from __future__ import annotations

import functools
import logging
from typing import Any

from flask import Blueprint, Response, json, request
from openai import OpenAI

from services.common.events import derived_event_id, new_event
from services.common.publisher import PublishError
from services.common.schemas import MODEL_RESPONSE_FINISHED, OPENAI_RESPONSE_WEBHOOK_TYPES
from services.common.validation import UnsafeJson, parse_json
from services.gateway import inputs
from services.gateway.problems import ApiProblem
from services.gateway.resources import resources

log = logging.getLogger(__name__)
PATH = "/v1/openai/webhooks"
bp = Blueprint("openai_webhooks", __name__)
SOURCE = "gateway"


@functools.lru_cache(maxsize=4)
def _sdk(secret: str) -> OpenAI:
    # Only webhooks.unwrap is used: no request is ever sent with this client.
    return OpenAI(api_key="unused-webhook-verification-only", webhook_secret=secret, base_url="http://127.0.0.1/")


def _ok(status: str, event_id: str | None = None) -> Response:
    body = {"status": status, "event_id": event_id}
    return Response(json.dumps(body), status=200, content_type="application/json")


@bp.post(PATH)
def receive_openai_webhook() -> Response:
    res = resources()
    secret = res.settings.openai_webhook_secret
    if not secret:
        raise ApiProblem(404, "openai-webhooks-not-configured", "Not Found",
                         "OpenAI webhook ingress is not configured (set OPENAI_WEBHOOK_SECRET).")
    raw = inputs.read_body()  # 413 past MAX_CONTENT_LENGTH, chunked too
    try:
        parse_json(raw)  # the SDK's own json.loads would raise RecursionError, or pass a lone surrogate on
    except UnsafeJson as exc:
        raise ApiProblem(400, "invalid-webhook", "Bad Request", f"The webhook body was refused: {exc.reason}") from None
    try:
        # Any: its type and shape are checked below (the SDK's union has dozens of members).
        event: Any = _sdk(secret).webhooks.unwrap(raw, dict(request.headers), secret=secret)
    except ValueError as exc:  # InvalidWebhookSignatureError, a missing header, a body that is not JSON
        log.warning("OpenAI webhook refused", extra={"error": str(exc)})
        raise ApiProblem(400, "invalid-webhook", "Bad Request",
                         f"The webhook could not be verified: {exc}") from None
    webhook_id = request.headers["webhook-id"]
    if getattr(event, "type", None) not in OPENAI_RESPONSE_WEBHOOK_TYPES:
        log.info("OpenAI webhook ignored", extra={"type": getattr(event, "type", None), "webhook_id": webhook_id})
        return _ok("ignored")
    try:
        data = {"response_id": event.data.id, "webhook_type": event.type, "webhook_id": webhook_id,
                "openai_event_id": str(event.id), "created_at": int(event.created_at)}
    except (AttributeError, TypeError, ValueError) as exc:  # signed, but not the documented shape
        raise ApiProblem(400, "invalid-webhook", "Bad Request", f"Unexpected webhook payload: {exc!r}") from None
    try:
        finished = new_event(MODEL_RESPONSE_FINISHED, SOURCE, data, subject=event.data.id,
                             event_id=derived_event_id("openai-webhook", webhook_id))
        # No runner bound (none running, none waiting): nothing to wake; a restarted runner retrieves anyway.
        res.bus.publish([finished], timeout=res.settings.gateway_publish_timeout, allow_unroutable=True)
    except PublishError as exc:
        log.warning("OpenAI webhook not published", extra={"webhook_id": webhook_id, "error": repr(exc)})
        raise ApiProblem(503, "broker-unavailable", "Service Unavailable",
                         "The webhook could not be passed on (the broker did not confirm it); retry later.",
                         headers={"Retry-After": "5"}) from None
    log.info("OpenAI webhook published", extra={"type": event.type, "response_id": event.data.id})
    return _ok("published", finished.id)
