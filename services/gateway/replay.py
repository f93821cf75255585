"""Replays of a subscription's deliveries: one (``/deliveries/<id>/retry``) or a range (``/replay``).

A replay makes a final delivery record (``delivered`` or ``failed``) pending again
(``records.replay_fields``): the deliverer sends the same record, so the receiver gets the same
body and ``webhook-id`` (the event id) and can drop what it already has; the retries and the
give-up time start again from the replay. A delivery still pending is being sent anyway: 409.
Owner isolation as for the other subscription endpoints: another key's subscription is a 404.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, Response

from services.gateway import validation
from services.gateway.generations import json_body
from services.gateway.problems import ApiProblem
from services.gateway.resources import resources
from services.gateway.subscriptions import _found, _json, delivery_view
from services.gateway.webhooks.records import FINAL_STATUSES

bp = Blueprint("replay", __name__, url_prefix="/v1/subscriptions")


@bp.post("/<subscription_id>/deliveries/<delivery_id>/retry")
def retry_delivery(subscription_id: str, delivery_id: str) -> Response:
    _found(subscription_id)
    validation.resource_id(delivery_id)
    webhooks = resources().store.webhooks
    doc = webhooks.replay_delivery(subscription_id, delivery_id, datetime.now(timezone.utc))
    if doc is None:
        if webhooks.delivery(subscription_id, delivery_id) is None:
            raise ApiProblem(404, "not-found", "Not Found",
                             f"No delivery {delivery_id} of subscription {subscription_id}.")
        raise ApiProblem(409, "delivery-pending", "Delivery Pending",
                         f"Delivery {delivery_id} is still being delivered; retry it once it is final.")
    return _json(delivery_view(doc), 202)


@bp.post("/<subscription_id>/replay")
def replay_deliveries(subscription_id: str) -> Response:
    _found(subscription_id)
    body = validation.check_body(json_body(), validation.REPLAY_SCHEMA)
    try:
        since = datetime.fromisoformat(body["since"].replace("Z", "+00:00"))
    except ValueError:  # the pattern allows a day the month has not (February 30th)
        raise validation.invalid(f"since: {body['since']!r} is not a date") from None
    status = body.get("status", "failed")
    statuses = FINAL_STATUSES if status == "all" else ("failed",)
    count = resources().store.webhooks.replay_deliveries(subscription_id, since, statuses,
                                                         datetime.now(timezone.utc))
    return _json({"replayed": count, "since": body["since"], "status": status}, 202)
