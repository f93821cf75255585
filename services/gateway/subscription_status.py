"""``POST /v1/subscriptions/{id}/enable``: turn a disabled subscription back on.

The deliverer disables a subscription whose receiver answered 410 Gone or failed every attempt
for WEBHOOK_DISABLE_AFTER (services/gateway/webhooks/records.py ``subscription_health``); events
published while it was disabled are not delivered. Enabling starts afresh: no failing period.
"""
from __future__ import annotations

from flask import Blueprint, Response

from services.gateway import validation
from services.gateway.auth import principal
from services.gateway.resources import resources
from services.gateway.subscriptions import _json, _not_found, subscription_view

bp = Blueprint("subscription_status", __name__, url_prefix="/v1/subscriptions")


@bp.post("/<subscription_id>/enable")
def enable_subscription(subscription_id: str) -> Response:
    validation.resource_id(subscription_id)
    # One scoped update: another key's subscription is never enabled, and it is a 404 like a missing one.
    doc = resources().store.webhooks.enable_subscription(subscription_id, owner=principal())
    if doc is None:
        raise _not_found(subscription_id)
    return _json(subscription_view(doc))
