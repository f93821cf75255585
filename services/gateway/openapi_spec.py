"""The OpenAPI 3.1 description of exactly what the gateway serves (served at /openapi.json)."""
from __future__ import annotations

from typing import Any

from services.gateway.validation import (EVENT_TYPE_CHOICES, GENERATION_REQUEST_SCHEMA, REPLAY_SCHEMA,
                                        SUBSCRIPTION_SCHEMA)

_STR_OR_NULL = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_ID_PARAM = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[A-Za-z0-9_.:-]+$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {media: {"schema": schema}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref("Problem"), "application/problem+json")}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _ID_PARAM}


_COMMON_ERRORS = {"401": {"$ref": "#/components/responses/Unauthorized"}}
_LINKS = {"type": "object", "additionalProperties": {"type": ["string", "null"]}}

SCHEMAS: dict[str, Any] = {
    "Problem": {"type": "object", "required": ["type", "title", "status", "detail", "instance"],
                "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                               "status": {"type": "integer"}, "detail": {"type": "string"},
                               "instance": {"type": "string"}}},
    "GenerationRequest": GENERATION_REQUEST_SCHEMA,
    "GenerationAccepted": {"type": "object", "required": ["id", "status", "links"],
                           "properties": {"id": {"type": "string"}, "status": {"const": "queued"},
                                          "links": _LINKS}},
    "Generation": {
        "type": "object", "required": ["id", "status", "counts", "recipes", "links"],
        "properties": {
            "id": {"type": "string"},
            "status": {"enum": ["queued", "running", "completed", "failed"]},
            "prompt": _STR_OR_NULL, "model": _STR_OR_NULL, "instructions": _STR_OR_NULL,
            "requested_at": _TIME, "started_at": _TIME, "completed_at": _TIME, "failed_at": _TIME,
            "updated_at": _TIME,
            "counts": {"type": "object", "properties": {k: {"type": "integer"}
                                                        for k in ("recipes", "ingredients", "steps")}},
            "recipes": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "name": _STR_OR_NULL, "href": {"type": "string"}}}},
            "error": {"type": "object", "properties": {"reason": _STR_OR_NULL, "code": _STR_OR_NULL}},
            "links": _LINKS,
        }},
    "Recipe": {
        "type": "object", "required": ["id", "ingredients", "steps", "links"],
        "properties": {
            "id": {"type": "string"}, "slug": _STR_OR_NULL, "generation_id": _STR_OR_NULL,
            "name": _STR_OR_NULL, "description": _STR_OR_NULL, "status": {"type": "string"},
            "ingredients": {"type": "array", "items": {"type": "object", "properties": {
                "ingredient": _STR_OR_NULL, "quantity": _STR_OR_NULL}}},
            "steps": {"type": "array", "items": {"type": "object", "properties": {
                "step_number": {"type": ["integer", "null"]}, "instructions": _STR_OR_NULL}}},
            "created_at": _TIME, "updated_at": _TIME, "completed_at": _TIME, "links": _LINKS,
        }},
    "RecipeJsonLd": {
        "type": "object", "required": ["@context", "@type", "name", "recipeIngredient", "recipeInstructions"],
        "properties": {
            "@context": {"const": "https://schema.org"}, "@type": {"const": "Recipe"},
            "@id": {"type": "string"}, "identifier": {"type": "string"}, "name": {"type": "string"},
            "description": {"type": "string"}, "dateCreated": {"type": "string"},
            "recipeIngredient": {"type": "array", "items": {"type": "string"}},
            "recipeInstructions": {"type": "array", "items": {
                "type": "object", "required": ["@type", "position", "text"],
                "properties": {"@type": {"const": "HowToStep"}, "position": {"type": "integer"},
                               "text": {"type": "string"}}}},
        }},
    "RecipePage": {"type": "object", "required": ["items", "next_cursor", "links"],
                   "properties": {"items": {"type": "array", "items": _ref("Recipe")},
                                  "next_cursor": _STR_OR_NULL, "links": _LINKS}},
    "SubscriptionRequest": SUBSCRIPTION_SCHEMA,
    "Subscription": {"type": "object", "required": ["id", "url", "event_types", "links"],
                     "properties": {"id": {"type": "string"}, "url": {"type": "string"},
                                    "event_types": {"type": "array",
                                                    "items": {"enum": list(EVENT_TYPE_CHOICES)}},
                                    "status": {"enum": ["enabled", "disabled"]},
                                    "disabled_reason": _STR_OR_NULL, "disabled_at": _TIME,
                                    "failing_since": {**_TIME, "description": "since when every attempt failed"},
                                    "ordering": {"enum": ["unordered", "per_recipe"]},
                                    "rate_limit": {"type": ["number", "null"]},
                                    "created_at": _TIME, "links": _LINKS,
                                    "secret": {"type": "string", "pattern": "^whsec_",
                                               "description": "only in the 201 answer to POST"}}},
    "SubscriptionList": {"type": "object", "required": ["items"],
                         "properties": {"items": {"type": "array", "items": _ref("Subscription")}}},
    "Delivery": {"type": "object", "required": ["id", "event_id", "event_type", "status"],
                 "properties": {"id": {"type": "string"}, "event_id": {"type": "string"},
                                "event_type": {"type": "string"},
                                "status": {"enum": ["delivering", "delivered", "failed"]},
                                "attempts": {"type": "integer"}, "last_status_code": {"type": ["integer", "null"]},
                                "last_error": _STR_OR_NULL, "created_at": _TIME, "finished_at": _TIME,
                                "next_attempt_at": {**_TIME, "description": "the next planned attempt (null: final)"},
                                "attempt_log": {"type": "array", "items": _ref("Attempt")},
                                "event": {"type": "object", "description": "the CloudEvent, on failed ones"}}},
    "Attempt": {"type": "object", "required": ["at", "status_code", "duration_ms", "error"],
                "properties": {"at": _TIME, "status_code": {"type": ["integer", "null"]},
                               "duration_ms": {"type": ["number", "null"]}, "error": _STR_OR_NULL}},
    "DeliveryList": {"type": "object", "required": ["items"],
                     "properties": {"items": {"type": "array", "items": _ref("Delivery")}}},
    "ReplayRequest": REPLAY_SCHEMA,
    "Replay": {"type": "object", "required": ["replayed", "since", "status"],
               "properties": {"replayed": {"type": "integer", "minimum": 0}, "since": {"type": "string"},
                              "status": {"enum": ["failed", "all"]}}},
    "RotatedSecret": {"type": "object", "required": ["id", "secret", "previous_secret_expires_at"],
                      "properties": {"id": {"type": "string"}, "secret": {"type": "string", "pattern": "^whsec_"},
                                     "previous_secret_expires_at": {"type": "string", "format": "date-time"}}},
    "OpenAIWebhookEvent": {"type": "object", "required": ["id", "type", "created_at", "data"],
                           "properties": {"id": {"type": "string"}, "object": {"const": "event"},
                                          "type": {"type": "string"}, "created_at": {"type": "integer"},
                                          "data": {"type": "object", "required": ["id"],
                                                   "properties": {"id": {"type": "string"}}}}},
    "OpenAIWebhookReceipt": {"type": "object", "required": ["status", "event_id"],
                             "properties": {"status": {"enum": ["published", "ignored"]},
                                            "event_id": _STR_OR_NULL}},
    "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"},
                                                                       "checks": {"type": "object"}}},
}
