"""/v1/subscriptions: webhook subscriptions (secret shown once, on creation) and their delivery logs.

A subscription belongs to the API key that created it (``owner`` = the key's fingerprint,
``auth.principal()``; "" with API keys off, when everything is shared). Another key's subscription
answers 404 exactly like a missing one, so ids do not leak. A subscription receives only its owner's
events (``tenancy.receives``); one created by an operator key (``all_tenants``) or with keys off, all.
A key holds at most GATEWAY_MAX_SUBSCRIPTIONS_PER_KEY subscriptions (409 past it).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any, Mapping

from flask import Blueprint, Response

from services.gateway import validation, views
from services.gateway.auth import principal, scope
from services.gateway.generations import json_body
from services.gateway.problems import ApiProblem
from services.gateway.resources import resources
from services.gateway.webhooks.records import UNORDERED
from services.gateway.webhooks.signing import new_secret
from services.gateway.webhooks.targets import RefusedTarget, check_target

bp = Blueprint("subscriptions", __name__, url_prefix="/v1/subscriptions")


def subscription_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": doc["_id"], "url": doc["url"], "event_types": doc["event_types"],
            "status": doc.get("status", "enabled"), "disabled_reason": doc.get("disabled_reason"),
            "disabled_at": views.iso(doc.get("disabled_at")), "failing_since": views.iso(doc.get("failing_since")),
            "ordering": doc.get("ordering", UNORDERED), "rate_limit": doc.get("rate_limit"),
            "created_at": views.iso(doc.get("created_at")),
            "links": {"self": f"/v1/subscriptions/{doc['_id']}",
                      "deliveries": f"/v1/subscriptions/{doc['_id']}/deliveries",
                      "enable": f"/v1/subscriptions/{doc['_id']}/enable"}}


def attempt_view(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {"at": views.iso(entry.get("at")), "status_code": entry.get("status_code"),
            "duration_ms": entry.get("duration_ms"), "error": entry.get("error")}


def delivery_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """One delivery with every attempt and the next one planned; a failed one (the dead letter) carries
    the whole event, for inspection and replay."""
    view = {"id": doc["_id"], "event_id": doc["event_id"], "event_type": doc["event_type"],
            "status": doc["status"], "attempts": doc.get("attempts", 0),
            "last_status_code": doc.get("last_status_code"), "last_error": doc.get("last_error"),
            "created_at": views.iso(doc.get("created_at")), "finished_at": views.iso(doc.get("finished_at")),
            "next_attempt_at": views.iso(doc.get("next_attempt_at")),
            "attempt_log": [attempt_view(entry) for entry in doc.get("attempt_log", [])]}
    if doc["status"] == "failed":
        view["event"] = doc.get("event")
    return view


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _not_found(subscription_id: str) -> ApiProblem:
    return ApiProblem(404, "not-found", "Not Found", f"No subscription {subscription_id}.")


def _found(subscription_id: str) -> dict[str, Any]:
    """The caller's subscription; another key's is a 404 like a missing one."""
    validation.resource_id(subscription_id)
    doc = resources().store.webhooks.subscription(subscription_id, owner=principal())
    if doc is None:
        raise _not_found(subscription_id)
    return doc


@bp.post("")
def create_subscription() -> Response:
    body = validation.check_body(json_body(), validation.SUBSCRIPTION_SCHEMA)
    res = resources()
    try:
        check_target(body["url"], allow_private=res.settings.webhook_allow_private_targets,
                     ports=res.settings.webhook_allowed_ports, allow_http=res.settings.webhook_allow_http)
    except RefusedTarget as exc:
        raise validation.invalid(f"url refused: {exc}") from None
    limit = res.settings.gateway_max_subscriptions_per_key
    if principal() and res.store.webhooks.count_subscriptions(principal()) >= limit:
        raise ApiProblem(409, "too-many-subscriptions", "Too Many Subscriptions",
                         f"This API key already holds {limit} subscriptions; delete one first.")
    doc = {"_id": f"sub_{uuid.uuid4().hex}", "url": body["url"], "event_types": body["event_types"],
           "status": "enabled", "secret": new_secret(), "owner": principal(), "created_at": datetime.now(timezone.utc),
           "ordering": body.get("ordering", UNORDERED), "rate_limit": body.get("rate_limit")}
    if principal() and scope() is None:
        doc["all_tenants"] = True  # an operator key's subscription receives every key's events
    res.store.webhooks.add_subscription(doc)
    response = _json({**subscription_view(doc), "secret": doc["secret"]}, 201)
    response.headers["Location"] = f"/v1/subscriptions/{doc['_id']}"
    return response


@bp.get("")
def list_subscriptions() -> Response:
    docs = resources().store.webhooks.list_subscriptions(owner=principal())
    return _json({"items": [subscription_view(doc) for doc in docs]})


@bp.get("/<subscription_id>")
def get_subscription(subscription_id: str) -> Response:
    return _json(subscription_view(_found(subscription_id)))


@bp.delete("/<subscription_id>")
def delete_subscription(subscription_id: str) -> Response:
    validation.resource_id(subscription_id)
    # One scoped delete_one: another key's subscription is never removed, and it is a 404 like a missing one.
    if not resources().store.webhooks.delete_subscription(subscription_id, owner=principal()):
        raise _not_found(subscription_id)
    return Response(status=204)


@bp.get("/<subscription_id>/deliveries")
def list_deliveries(subscription_id: str) -> Response:
    _found(subscription_id)
    docs = resources().store.webhooks.deliveries_of(subscription_id)
    return _json({"items": [delivery_view(doc) for doc in docs]})
