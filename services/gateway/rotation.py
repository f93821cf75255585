"""POST /v1/subscriptions/<id>/rotate-secret: a new signing secret, shown once, in this answer.

For WEBHOOK_ROTATION_OVERLAP seconds after a rotation every delivery carries two signatures in
``webhook-signature`` (the new secret's and the previous one's), so a receiver can switch to the new
secret whenever it likes within that time (``signing.previous_secrets``). A second rotation within
the overlap drops the oldest secret. Another key's subscription is a 404, as everywhere.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import Blueprint, Response

from services.gateway import views
from services.gateway.auth import principal
from services.gateway.problems import ApiProblem
from services.gateway.resources import resources
from services.gateway.subscriptions import _found, _json
from services.gateway.webhooks.signing import new_secret, rotated

bp = Blueprint("rotation", __name__, url_prefix="/v1/subscriptions")


@bp.post("/<subscription_id>/rotate-secret")
def rotate_secret(subscription_id: str) -> Response:
    doc = _found(subscription_id)
    res = resources()
    now = datetime.now(timezone.utc)
    until = now + timedelta(seconds=res.settings.webhook_rotation_overlap)
    fields = rotated(doc, new_secret(), now, until)
    if not res.store.webhooks.rotate_secret(subscription_id, owner=principal(), old=doc["secret"], fields=fields):
        # Deleted meanwhile (404), or another rotation won: its secret is the one shown to that caller.
        if res.store.webhooks.subscription(subscription_id, owner=principal()) is None:
            raise ApiProblem(404, "not-found", "Not Found", f"No subscription {subscription_id}.")
        raise ApiProblem(409, "rotated-concurrently", "Rotated Concurrently",
                         "Another request rotated this subscription's secret at the same time; rotate again.")
    return _json({"id": subscription_id, "secret": fields["secret"],
                  "previous_secret_expires_at": views.iso(until)})
