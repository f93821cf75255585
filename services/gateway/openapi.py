"""GET /openapi.json: the paths of the gateway (schemas in openapi_spec)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, json

from services.gateway.openapi_spec import _COMMON_ERRORS, SCHEMAS, _json, _path_param, _problem, _ref
from services.gateway.validation import DEFAULT_LIMIT, MAX_LIMIT

bp = Blueprint("openapi", __name__)


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _op(operation_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"operationId": operation_id, "summary": summary, "responses": {**responses, **_COMMON_ERRORS}, **extra}


def _links(source: str, **targets: str) -> dict[str, Any]:
    """OpenAPI links: where an id in this response can be used next (lets stateful testing follow them)."""
    return {name: {"operationId": name, "parameters": {param: source}} for name, param in targets.items()}


_BAD = _problem("invalid request (problem details)")
_NOT_FOUND = _problem("no such resource")
_NO_SUBSCRIPTION = _problem("no such subscription, or another API key's")
_GEN_ID = [_path_param("generation_id")]
_SUB_ID = [_path_param("subscription_id")]

PATHS: dict[str, Any] = {
    "/v1/generations": {"post": _op(
        "createGeneration", "Request a recipe generation; 202 only after the broker confirmed it",
        {"202": {"description": "accepted and queued", "content": _json(_ref("GenerationAccepted")),
                 "headers": {"Location": {"schema": {"type": "string"}}},
                 "links": _links("$response.body#/id", getGeneration="generation_id",
                                 streamGenerationEvents="generation_id")},
         "400": _BAD, "413": _problem("body too large"), "415": _problem("not application/json"),
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
                 "content": {"text/event-stream": {"schema": {"type": "string"}}}}, "404": _NOT_FOUND,
         "503": _problem("this worker's event streams are all open; retry after Retry-After or poll the generation")},
        parameters=[*_GEN_ID, {"name": "Last-Event-ID", "in": "header", "required": False,
                               "schema": {"type": "string"}}])},
    "/v1/recipes": {"get": _op(
        "listRecipes", "Recipes, newest first, filtered, cursor-paginated",
        {"200": {"description": "a page of recipes", "content": _json(_ref("RecipePage")),
                 "links": _links("$response.body#/items/0/id", getRecipe="recipe_id")}, "400": _BAD},
        parameters=[
            _query("ingredient", {"type": "string", "minLength": 1, "maxLength": 100},
                   "case-insensitive substring of an ingredient"),
            _query("q", {"type": "string", "minLength": 1, "maxLength": 200}, "words of the recipe name"),
            _query("generation_id", {"type": "string", "minLength": 1, "maxLength": 200}, "exact generation id"),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                   "page size"),
            _query("cursor", {"type": "string"}, "next_cursor of the previous page"),
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
                                             listDeliveries="subscription_id")},
                     "400": _BAD, "413": _problem("body too large"), "415": _problem("not application/json")},
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
    "/v1/openai/webhooks": {"post": {
        "operationId": "receiveOpenAIWebhook", "security": [],
        "summary": "OpenAI webhook ingress (Standard Webhooks signature with OPENAI_WEBHOOK_SECRET, not API keys)",
        "parameters": [{"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
                       for name in ("webhook-id", "webhook-timestamp", "webhook-signature")],
        "requestBody": {"required": True, "content": _json(_ref("OpenAIWebhookEvent"))},
        "responses": {"200": {"description": "verified; published (response.* terminal events) or ignored",
                              "content": _json(_ref("OpenAIWebhookReceipt"))},
                      "400": _problem("signature missing, forged or stale (more than 300 s off); nothing published"),
                      "404": _problem("OPENAI_WEBHOOK_SECRET is not set"), "413": _problem("body too large"),
                      "503": _problem("broker did not confirm; OpenAI retries")}}},
    "/healthz": {"get": {"summary": "The process is alive", "security": [],
                         "responses": {"200": {"description": "ok", "content": _json(_ref("Status"))}}}},
    "/readyz": {"get": {"summary": "Broker and MongoDB reachable", "security": [],
                        "responses": {"200": {"description": "ready", "content": _json(_ref("Status"))},
                                      "503": _problem("not ready")}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": {
        "200": {"description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
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
