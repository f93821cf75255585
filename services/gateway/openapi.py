"""GET /openapi.json: the paths of the gateway (schemas in openapi_spec)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, json

from services.gateway.openapi_spec import _COMMON_ERRORS, SCHEMAS, _json, _path_param, _problem, _ref
from services.gateway.validation import DEFAULT_LIMIT, MAX_LIMIT

bp = Blueprint("openapi", __name__)


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _filter(longest: int) -> dict[str, Any]:
    """A recipe filter: 1 to ``longest`` characters once surrounding whitespace is stripped."""
    return {"type": "string", "minLength": 1, "maxLength": longest, "pattern": "\\S"}


def _op(operation_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"operationId": operation_id, "summary": summary, "responses": {**responses, **_COMMON_ERRORS}, **extra}


def _links(source: str, **targets: str) -> dict[str, Any]:
    """OpenAPI links: where an id in this response can be used next (lets stateful testing follow them)."""
    return {name: {"operationId": name, "parameters": {param: source}} for name, param in targets.items()}


_BAD = _problem("invalid request (problem details)")
_TOO_LARGE = _problem("body over GATEWAY_MAX_BODY_BYTES (Content-Length or chunked)")
_TOO_SLOW = _problem("the body took longer than GATEWAY_BODY_TIMEOUT_SECONDS to arrive")
# A cursor is opaque: base64url (unpadded) of what the previous page's next_cursor said.
_CURSOR = {"type": "string", "minLength": 1, "maxLength": 500, "pattern": "^[A-Za-z0-9_-]+$"}
# One SSE event as sent (id = event id, event = type, data = one line of JSON); comments and the
# leading "retry" field carry no data and are not events.
_SSE_EVENT = {"type": "object", "required": ["id", "event", "data"],
              "properties": {"id": {"type": "string"}, "event": {"type": "string"},
                             "data": {"type": "string", "contentMediaType": "application/json",
                                      "contentSchema": {"type": "object"}},
                             "retry": {"type": "integer"}}}
_NOT_FOUND = _problem("no such resource")
_NO_SUBSCRIPTION = _problem("no such subscription, or another API key's")
# Standard Webhooks headers: the signature is checked against the secret, which no document can say.
_WEBHOOK_HEADERS = {"webhook-id": {"type": "string", "pattern": "^[\\x21-\\x7e]+$"},
                    "webhook-timestamp": {"type": "string", "pattern": "^[0-9]{1,12}$"},
                    "webhook-signature": {"type": "string", "pattern": "^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$"}}
_GEN_ID = [_path_param("generation_id")]
_SUB_ID = [_path_param("subscription_id")]

PATHS: dict[str, Any] = {
    "/v1/generations": {"post": _op(
        "createGeneration", "Request a recipe generation; 202 only after the broker confirmed it",
        {"202": {"description": "accepted and queued", "content": _json(_ref("GenerationAccepted")),
                 "headers": {"Location": {"schema": {"type": "string"}}},
                 "links": _links("$response.body#/id", getGeneration="generation_id",
                                 streamGenerationEvents="generation_id")},
         "400": _BAD, "408": _TOO_SLOW, "413": _TOO_LARGE, "415": _problem("not application/json"),
         "422": _problem("Idempotency-Key reused with another body"),
         "503": _problem("broker did not confirm; retry after Retry-After")},
        parameters=[{"name": "Idempotency-Key", "in": "header", "required": False,
                     "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$"}},
                    {"name": "traceparent", "in": "header", "required": False, "schema": {"type": "string"}}],
        requestBody={"required": True, "content": _json(_ref("GenerationRequest"))})},
    "/v1/generations/{generation_id}": {"get": _op(
        "getGeneration", "Status, timestamps, counts and recipes of a generation",
        {"200": {"description": "the generation", "content": _json(_ref("Generation"))}, "404": _NOT_FOUND},
        parameters=_GEN_ID)},
    "/v1/generations/{generation_id}/events": {"get": _op(
        "streamGenerationEvents", "Server-sent events: history, then new events, ending after the final status",
        {"200": {"description": "text/event-stream; id = event id, event = type, data = JSON",
                 "content": {"text/event-stream": {"schema": {"type": "array", "items": _SSE_EVENT},
                                                   "itemSchema": _SSE_EVENT}}}, "404": _NOT_FOUND,
         "503": _problem("this worker's event streams are all open; retry after Retry-After or poll the generation")},
        parameters=[*_GEN_ID, {"name": "Last-Event-ID", "in": "header", "required": False,
                               "schema": {"type": "string"}}])},
    "/v1/recipes": {"get": _op(
        "listRecipes", "Recipes, newest first, filtered, cursor-paginated",
        {"200": {"description": "a page of recipes", "content": _json(_ref("RecipePage")),
                 "links": _links("$response.body#/items/0/id", getRecipe="recipe_id")}, "400": _BAD,
         "414": {"description": "request line over 8190 bytes (longer than any query this document allows)"}},
        parameters=[
            _query("ingredient", _filter(100), "case-insensitive substring of an ingredient"),
            _query("q", _filter(200), "words of the recipe name"),
            _query("generation_id", _filter(200), "exact generation id"),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                   "page size"),
            _query("cursor", _CURSOR, "next_cursor of the previous page (opaque; another string is a 400)"),
        ])},
    "/v1/recipes/{recipe_id}": {"get": _op(
        "getRecipe", "One recipe as JSON, or schema.org Recipe JSON-LD with Accept: application/ld+json",
        {"200": {"description": "the recipe", "content": {**_json(_ref("Recipe")),
                                                          **_json(_ref("RecipeJsonLd"), "application/ld+json")}},
         "404": _NOT_FOUND},
        parameters=[_path_param("recipe_id")])},
    "/v1/subscriptions": {
        "post": _op("createSubscription", "Subscribe a URL to recipe events (the secret is shown only here)",
                    {"201": {"description": "created", "content": _json(_ref("Subscription")),
                             "links": _links("$response.body#/id", getSubscription="subscription_id",
                                             deleteSubscription="subscription_id",
                                             listDeliveries="subscription_id",
                                             enableSubscription="subscription_id",
                                             replayDeliveries="subscription_id",
                                             rotateSecret="subscription_id")},
                     "400": _problem("invalid request, or the URL refused (docs/security.md): visible ASCII "
                                     "only, no credentials, a host that resolves to allowed addresses"),
                     "408": _TOO_SLOW, "409": _problem("this API key holds GATEWAY_MAX_SUBSCRIPTIONS_PER_KEY "
                                                       "subscriptions already"),
                     "413": _TOO_LARGE, "415": _problem("not application/json")},
                    requestBody={"required": True, "content": _json(_ref("SubscriptionRequest"))}),
        "get": _op("listSubscriptions", "The caller's subscriptions (those its API key created), without secrets",
                   {"200": {"description": "subscriptions", "content": _json(_ref("SubscriptionList"))}})},
    "/v1/subscriptions/{subscription_id}": {
        "get": _op("getSubscription", "One subscription", {"200": {"description": "the subscription",
                                                "content": _json(_ref("Subscription"))}, "404": _NO_SUBSCRIPTION},
                   parameters=_SUB_ID),
        "delete": _op("deleteSubscription", "Unsubscribe",
                      {"204": {"description": "deleted"}, "404": _NO_SUBSCRIPTION}, parameters=_SUB_ID)},
    "/v1/subscriptions/{subscription_id}/deliveries": {"get": _op(
        "listDeliveries", "The delivery log of a subscription, newest first",
        {"200": {"description": "deliveries", "content": _json(_ref("DeliveryList"))}, "404": _NO_SUBSCRIPTION},
        parameters=_SUB_ID)},
    "/v1/subscriptions/{subscription_id}/enable": {"post": _op(
        "enableSubscription", "Turn a subscription the deliverer disabled (410 Gone, or failing for "
        "WEBHOOK_DISABLE_AFTER) back on; enabling an enabled one changes nothing",
        {"200": {"description": "the subscription, enabled", "content": _json(_ref("Subscription"))},
         "404": _NO_SUBSCRIPTION}, parameters=_SUB_ID)},
    "/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}/retry": {"post": _op(
        "retryDelivery", "Send one final delivery (failed or delivered) again, with its original webhook-id",
        {"202": {"description": "pending again", "content": _json(_ref("Delivery"))},
         "404": _problem("no such subscription (or another API key's), or no such delivery of it"),
         "409": _problem("the delivery is still pending (being delivered)")},
        parameters=[*_SUB_ID, _path_param("delivery_id")])},
    "/v1/subscriptions/{subscription_id}/replay": {"post": _op(
        "replayDeliveries", "Send again every failed (or every final) delivery recorded since a time",
        {"202": {"description": "how many deliveries are pending again", "content": _json(_ref("Replay"))},
         "400": _problem("invalid request, or a date the calendar has not"), "404": _NO_SUBSCRIPTION,
         "408": _TOO_SLOW, "413": _TOO_LARGE, "415": _problem("not application/json")},
        parameters=_SUB_ID, requestBody={"required": True, "content": _json(_ref("ReplayRequest"))})},
    "/v1/subscriptions/{subscription_id}/rotate-secret": {"post": _op(
        "rotateSecret", "A new signing secret (shown only here); the previous one also signs for "
                        "WEBHOOK_ROTATION_OVERLAP seconds",
        {"200": {"description": "the new secret", "content": _json(_ref("RotatedSecret"))}, "404": _NO_SUBSCRIPTION,
         "409": _problem("another request rotated the secret at the same time")},
        parameters=_SUB_ID)},
    "/v1/openai/webhooks": {"post": {
        "operationId": "receiveOpenAIWebhook", "security": [],
        "summary": "OpenAI webhook ingress (Standard Webhooks signature with OPENAI_WEBHOOK_SECRET, not API keys)",
        "parameters": [{"name": name, "in": "header", "required": True, "schema": schema}
                       for name, schema in _WEBHOOK_HEADERS.items()],
        "requestBody": {"required": True, "content": _json(_ref("OpenAIWebhookEvent"))},
        "responses": {"200": {"description": "verified; published (response.* terminal events) or ignored",
                              "content": _json(_ref("OpenAIWebhookReceipt"))},
                      "400": _problem("signature missing, forged or stale (more than 300 s off); nothing published"),
                      "404": _problem("OPENAI_WEBHOOK_SECRET is not set"), "408": _TOO_SLOW, "413": _TOO_LARGE,
                      "503": _problem("broker did not confirm; OpenAI retries")}}},
    "/healthz": {"get": {"summary": "The process is alive", "security": [],
                         "responses": {"200": {"description": "ok", "content": _json(_ref("Status"))}}}},
    "/readyz": {"get": {"summary": "Broker and MongoDB reachable", "security": [],
                        "responses": {"200": {"description": "ready", "content": _json(_ref("Status"))},
                                      "503": _problem("not ready")}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": {
        "200": {"description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/asyncapi.json": {"get": {
        "operationId": "getAsyncAPI", "summary": "AsyncAPI 3.0 document of the events on the broker (docs/events.md)",
        "security": [], "responses": {"200": {"description": "the AsyncAPI document", "content": _json(
            {"type": "object", "required": ["asyncapi", "channels", "operations", "components"],
             "properties": {"asyncapi": {"const": "3.0.0"}}})}}}},
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Recipe generation gateway", "version": "1.0.0",
                 "description": "Every error is RFC 9457 problem details (application/problem+json)."},
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "only when the gateway has API keys configured"}},
            "responses": {"Unauthorized": _problem("API keys are configured and none valid was sent")},
        },
        "security": [{}, {"bearer": []}],
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return Response(json.dumps(document()), content_type="application/json")
