"""Pure validation of what clients send: bodies and query strings in, clean values (or ApiProblem) out.

User input reaches MongoDB only as plain strings and integers checked here,
never as a document that could carry an operator.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Mapping
from urllib.parse import unquote_to_bytes

from services.common import vocabulary
from services.common.schemas import DATA_SCHEMAS, GENERATION_REQUESTED, RECIPE_TYPES
from services.common.validation import Schema
from services.gateway.problems import ApiProblem

_REQUESTED = DATA_SCHEMAS[GENERATION_REQUESTED]["properties"]

GENERATION_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prompt"],
    "additionalProperties": False,
    "properties": {
        "prompt": dict(_REQUESTED["prompt"]),
        "model": {"type": ["string", "null"], "minLength": 1, "maxLength": 200},
        "instructions": {"type": ["string", "null"], "maxLength": 20000},
    },
}
ANY_RECIPE_EVENT = "recipe.*"
EVENT_TYPE_CHOICES = (*RECIPE_TYPES, ANY_RECIPE_EVENT)
SUBSCRIPTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["url", "event_types"],
    "additionalProperties": False,
    "properties": {
        # Visible ASCII only, no backslash (services/gateway/webhooks/targets.py refuses the rest; percent-encode it).
        "url": {"type": "string", "minLength": 8, "maxLength": 2000, "pattern": "^https?://[\\x21-\\x5b\\x5d-\\x7e]+$"},
        "event_types": {"type": "array", "minItems": 1, "maxItems": len(EVENT_TYPE_CHOICES),
                        "uniqueItems": True, "items": {"enum": list(EVENT_TYPE_CHOICES)}},
        "ordering": {"enum": ["unordered", "per_recipe"], "default": "unordered",
                     "description": "per_recipe: a recipe's events one at a time, in the order announced"},
        "rate_limit": {"type": ["number", "null"], "minimum": 0.01, "maximum": 1000,
                       "description": "at most this many requests per second, across deliverer processes"},
    },
}
# RFC 3339 with its offset (formats are annotations only, so the syntax is a pattern the document shows).
DATE_TIME_PATTERN = ("^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
                     "([.][0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
REPLAY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["since"],
    "additionalProperties": False,
    "properties": {
        "since": {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN,
                  "description": "deliveries recorded at or after this time"},
        "status": {"enum": ["failed", "all"], "default": "failed",
                   "description": "failed: only those given up; all: delivered ones too"},
    },
}
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,500}$")  # as documented in openapi.py (base64url, unpadded)
ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
MAX_LIMIT, DEFAULT_LIMIT = 100, 20
RECIPE_FILTERS = {"ingredient": 100, "q": 200, "generation_id": 200}
_VALIDATORS = {id(s): Schema(s) for s in (GENERATION_REQUEST_SCHEMA, SUBSCRIPTION_SCHEMA, REPLAY_SCHEMA)}


def subscribing_types(event_type: str) -> tuple[str, str]:
    """The ``event_types`` entries that subscribe a subscription to ``event_type``: its name or the wildcard."""
    return event_type, ANY_RECIPE_EVENT


def invalid(detail: str, **extra: Any) -> ApiProblem:
    return ApiProblem(400, "invalid-request", "Invalid request", detail, **extra)


def check_body(body: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """Validate a parsed JSON body against ``schema``; 400 with every error otherwise."""
    errors = _VALIDATORS[id(schema)].errors(body)
    if errors:
        described = [{"field": e.path or "(body)", "message": e.message} for e in errors[:10]]
        raise invalid("; ".join(f"{e['field']}: {e['message']}" for e in described), errors=described)
    return body


def generation_request(body: Any) -> dict[str, Any]:
    clean = check_body(body, GENERATION_REQUEST_SCHEMA)
    return {"prompt": clean["prompt"], "model": clean.get("model"), "instructions": clean.get("instructions")}


def body_fingerprint(request: Mapping[str, Any]) -> str:
    """A stable hash of a validated request, to tell an idempotent repeat from a conflicting reuse."""
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode("utf-8")).hexdigest()


def idempotency_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not IDEMPOTENCY_KEY.match(raw):
        raise invalid("Idempotency-Key must be 1-200 visible ASCII characters")
    return raw


def resource_id(raw: str) -> str:
    if not ID.match(raw):
        raise ApiProblem(404, "not-found", "Not Found", "No such resource.")
    return raw


def recipe_query(args: Mapping[str, str]) -> dict[str, Any]:
    """Filters, limit and cursor of GET /v1/recipes, each a plain bounded string or int."""
    unknown = sorted(set(args) - {*RECIPE_FILTERS, "limit", "cursor"})
    if unknown:
        raise invalid(f"unknown query parameter(s): {', '.join(unknown)}")
    query: dict[str, Any] = {}
    for name, longest in RECIPE_FILTERS.items():
        value = args.get(name)
        if value is None:
            continue
        value = value.strip()
        if not 1 <= len(value) <= longest:
            raise invalid(f"{name} must be 1-{longest} characters")
        query[name] = value
    raw_limit = args.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise invalid(f"limit must be an integer from 1 to {MAX_LIMIT}")
    query["limit"] = int(raw_limit)
    if "cursor" in args:
        if not CURSOR.match(args["cursor"]):
            raise invalid("cursor is not a valid cursor (the next_cursor of a previous page)")
        query["cursor"] = args["cursor"]
    return query


QUERY_NOT_UTF8 = "the query string is not valid UTF-8 (percent-encode UTF-8 text only)"


def query_refusal(raw: bytes) -> str | None:
    """Why a raw (percent-encoded) query string is refused: a part that is not UTF-8 text; None when fine."""
    for part in raw.replace(b"+", b" ").split(b"&"):
        try:
            unquote_to_bytes(part).decode("utf-8")
        except UnicodeDecodeError:  # includes encoded lone surrogates (%ED%A0%80)
            return QUERY_NOT_UTF8
    return None


def keywords(q: str) -> list[str]:
    """Words of a name query, the first ten, normalised as the store's ``keywords`` field is."""
    return vocabulary.words(q)[:10]
