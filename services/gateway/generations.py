"""/v1/generations: accept a request (202 only after the broker confirmed), report status, stream events."""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import datetime, timezone

from flask import Blueprint, Response, request

from services.common import tracing
from services.common.events import derived_event_id, new_event
from services.common.publisher import BrokerUnavailable, Nacked, PublishError, Unroutable
from services.common.schemas import GENERATION_REQUESTED
from services.gateway import inputs, metrics, tenancy, validation, views
from services.gateway.auth import principal, scope
from services.gateway.problems import ApiProblem
from services.gateway.resources import resources
from services.gateway.sse import HeldStream, event_stream, position
from services.gateway.tracing import continue_trace

log = logging.getLogger(__name__)
bp = Blueprint("generations", __name__, url_prefix="/v1/generations")
SOURCE = "gateway"
RETRY_AFTER_SECONDS = "5"
_IDEMPOTENCY_NAMESPACE = uuid.UUID("3b0c7a4e-8d1f-4c55-9a8e-0f2d6a1c9e47")


def json_body() -> object:
    """The request's JSON body: 415 unless it says JSON, 413 when too large, 400 when malformed."""
    return inputs.json_body()  # size (chunked too), depth and Unicode checked there


def generation_id_for(idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return str(uuid.uuid4())
    # Scoped by the caller's credential, so two clients cannot collide on a key.
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{principal()}\n{idempotency_key}"))


def accepted(generation_id: str, status: str = "queued") -> Response:
    body = {"id": generation_id, "status": status, "links": views.links(generation_id)}
    response = Response(json.dumps(body), status=202, content_type="application/json")
    response.headers["Location"] = f"/v1/generations/{generation_id}"
    return response


def _conflict() -> ApiProblem:
    return ApiProblem(422, "idempotency-key-reused", "Idempotency-Key reused",
                      "This Idempotency-Key was already used with a different request body.")


@bp.post("")
def create_generation() -> Response:
    clean = validation.generation_request(json_body())
    key = validation.idempotency_key(request.headers.get("Idempotency-Key"))
    fingerprint = validation.body_fingerprint(clean)
    generation_id = generation_id_for(key)
    res = resources()
    if key is not None:
        existing = res.store.requests.find(generation_id)
        if existing is not None:
            if existing.get("fingerprint") != fingerprint:
                raise _conflict()
            return accepted(generation_id)
    # Traced: the request's span (which continued the caller's traceparent); else one of our own.
    traceparent = tracing.current_traceparent() or continue_trace(request.headers.get("traceparent"))
    # The owner travels with the request (docs/events.md) so the store can stamp generation and recipes.
    owner = {"owner": principal()} if principal() else {}
    event = new_event(GENERATION_REQUESTED, SOURCE, {"generation_id": generation_id, **clean, **owner},
                      subject=generation_id, traceparent=traceparent,
                      event_id=derived_event_id(generation_id, GENERATION_REQUESTED))
    try:
        res.bus.publish([event], timeout=res.settings.gateway_publish_timeout)
    except PublishError as exc:
        reason = {BrokerUnavailable: "unavailable", Nacked: "nacked", Unroutable: "unroutable"}.get(type(exc), "error")
        metrics.PUBLISH_FAILURES.labels(reason).inc()
        log.warning("generation request refused: publish not confirmed",
                    extra={"generation_id": generation_id, "error": repr(exc)})
        raise ApiProblem(503, "broker-unavailable", "Service Unavailable",
                         "The request could not be queued (the message broker did not confirm it); retry later.",
                         headers={"Retry-After": RETRY_AFTER_SECONDS}) from None
    metrics.GENERATIONS_ACCEPTED.inc()
    stored = res.store.requests.record({
        "_id": generation_id, **clean, "status": "queued", "fingerprint": fingerprint, "owner": principal(),
        "idempotency_key_hash": hashlib.sha256(key.encode()).hexdigest() if key else None,
        "event_id": event.id, "traceparent": traceparent, "requested_at": datetime.now(timezone.utc),
    })
    if stored.get("fingerprint") != fingerprint:  # a concurrent request with the same key won
        raise _conflict()
    response = accepted(generation_id)
    response.headers["traceparent"] = traceparent
    return response


def _visible_generation(store, generation_id: str) -> tuple[dict | None, dict | None]:
    """The store's and the gateway's documents of a generation the caller may see; another key's is a
    404 exactly like a missing one."""
    stored, requested = store.read_model.generation(generation_id), store.requests.find(generation_id)
    if (stored is None and requested is None) or not tenancy.visible(scope(), tenancy.owner_of(requested, stored)):
        raise ApiProblem(404, "not-found", "Not Found", f"No generation {generation_id}.")
    return stored, requested


@bp.get("/<generation_id>")
def get_generation(generation_id: str) -> Response:
    validation.resource_id(generation_id)
    store = resources().store
    stored, requested = _visible_generation(store, generation_id)
    view = views.generation_view(generation_id, stored, requested, store.read_model.recipes_of(generation_id))
    return Response(json.dumps(view), content_type="application/json")


@bp.get("/<generation_id>/events")
def stream_events(generation_id: str) -> Response:
    validation.resource_id(generation_id)
    res = resources()
    store = res.store
    _visible_generation(store, generation_id)
    after = None
    last_id = request.headers.get("Last-Event-ID")
    if last_id:
        last = store.read_model.event(last_id)
        if last is not None and last.get("generation_id") == generation_id:
            after = position(last)
    if not res.stream_slots.acquire(blocking=False):
        metrics.STREAMS_REFUSED.inc()
        raise ApiProblem(503, "too-many-streams", "Service Unavailable",
                         f"This gateway worker already serves {res.settings.gateway_sse_max_streams} event streams; "
                         f"retry later, or poll GET /v1/generations/{generation_id}.",
                         headers={"Retry-After": RETRY_AFTER_SECONDS})
    metrics.STREAMS_OPEN.inc()
    watch = res.watcher.watch(generation_id)
    stream = event_stream(store.read_model, generation_id, after, max_seconds=res.settings.gateway_sse_max_seconds,
                          wait=watch.wait, safety_seconds=res.watcher.safety_seconds,
                          closing=lambda: res.watcher.closing)

    def release() -> None:
        watch.close()
        res.stream_slots.release()
        metrics.STREAMS_OPEN.dec()

    response = Response(HeldStream(stream, release), content_type="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response

