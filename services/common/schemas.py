"""Every event type of the contract and the JSON Schema of its ``data``.

docs/events.md describes the same types for people; tests/common/test_events_doc.py keeps the two in step.
"""
from __future__ import annotations

import hashlib
from typing import Any

from services.common.tools import ARGUMENT_SCHEMAS

GENERATION_REQUESTED = "generation.requested"
GENERATION_STARTED = "generation.started"
GENERATION_COMPLETED = "generation.completed"
GENERATION_FAILED = "generation.failed"
TOOLCALL_ADD_RECIPE = "toolcall.add_recipe"
TOOLCALL_ADD_INGREDIENT = "toolcall.add_ingredient"
TOOLCALL_ADD_STEP = "toolcall.add_step"
TOOLCALL_REJECTED = "toolcall.rejected"
RECIPE_CREATED = "recipe.created"
RECIPE_INGREDIENT_ADDED = "recipe.ingredient_added"
RECIPE_STEP_ADDED = "recipe.step_added"
RECIPE_COMPLETED = "recipe.completed"
# The store recorded a generation's events durably in generation_events: a hint for live views (SSE).
EVENTS_RECORDED = "events.recorded"
# An OpenAI webhook (verified by the gateway) saying a background response finished.
MODEL_RESPONSE_FINISHED = "model.response_finished"
# The webhook deliverer disabled a subscription (410 Gone, or WEBHOOK_DISABLE_AFTER of failures).
SUBSCRIPTION_DISABLED = "subscription.disabled"
OPENAI_RESPONSE_WEBHOOK_TYPES = ("response.completed", "response.failed", "response.incomplete", "response.cancelled")

_ID = {"type": "string", "minLength": 1, "maxLength": 200}
_TEXT = {"type": "string"}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
    }


def _toolcall(tool_name: str) -> dict[str, Any]:
    # position: the call's index in the model's batch of calls, so parallel calls made in the
    # same millisecond keep the model's order in the stored recipe.
    return _obj({"generation_id": _ID, "tool_call_id": _ID, "arguments": ARGUMENT_SCHEMAS[tool_name]},
                {"position": {"type": "integer", "minimum": 0}})


_RECIPE_REF = {"generation_id": _ID, "recipe_id": _ID}
# With API keys on: the requesting key's fingerprint (docs/events.md); recipe.* events carry it once
# the store knows it.
_OWNER = {"owner": {"type": "string", "minLength": 1, "maxLength": 64}}

DATA_SCHEMAS: dict[str, dict[str, Any]] = {
    GENERATION_REQUESTED: _obj(
        {"generation_id": _ID, "prompt": {"type": "string", "minLength": 1, "maxLength": 20000}},
        {"model": {"type": ["string", "null"]}, "instructions": {"type": ["string", "null"]}, **_OWNER},
    ),
    GENERATION_STARTED: _obj(
        {"generation_id": _ID, "backend": {"enum": ["assistants", "responses"]}, "model": _TEXT},
        {"thread_id": _TEXT, "run_id": _TEXT, "response_id": _TEXT, "assistant_id": _TEXT},
    ),
    GENERATION_COMPLETED: _obj(
        {"generation_id": _ID, "message": _TEXT},
        {"tool_calls": {"type": "integer", "minimum": 0}, "rejected_tool_calls": {"type": "integer", "minimum": 0}},
    ),
    GENERATION_FAILED: _obj({"generation_id": _ID, "reason": _TEXT}, {"code": _TEXT}),
    TOOLCALL_ADD_RECIPE: _toolcall("addRecipe"),
    TOOLCALL_ADD_INGREDIENT: _toolcall("addIngredient"),
    TOOLCALL_ADD_STEP: _toolcall("addStep"),
    TOOLCALL_REJECTED: _obj(
        {"generation_id": _ID, "tool_call_id": _ID, "tool": _TEXT, "arguments": _TEXT, "error": _TEXT},
    ),
    RECIPE_CREATED: _obj({**_RECIPE_REF, "name": _TEXT, "description": _TEXT},
                         {"model_recipe_id": _TEXT, **_OWNER}),
    RECIPE_INGREDIENT_ADDED: _obj({**_RECIPE_REF, "ingredient": _TEXT, "quantity": _TEXT}, _OWNER),
    RECIPE_STEP_ADDED: _obj({**_RECIPE_REF, "step_number": {"type": "integer"}, "instructions": _TEXT}, _OWNER),
    RECIPE_COMPLETED: _obj(
        {**_RECIPE_REF, "ingredient_count": {"type": "integer"}, "step_count": {"type": "integer"}}, _OWNER,
    ),
    EVENTS_RECORDED: _obj({"generation_id": _ID, "last_event_id": _ID, "events": {"type": "integer", "minimum": 1},
                           "recorded_since": _TEXT}),
    MODEL_RESPONSE_FINISHED: _obj(
        {"response_id": _ID, "webhook_type": {"enum": list(OPENAI_RESPONSE_WEBHOOK_TYPES)}, "webhook_id": _ID},
        {"openai_event_id": _TEXT, "created_at": {"type": "integer"}},
    ),
    SUBSCRIPTION_DISABLED: _obj({"subscription_id": _ID, "url": _TEXT, "reason": _TEXT, "disabled_at": _TEXT},
                                _OWNER),
}

# The one service that publishes each type (its events' ``source``); docs/events.md's producer column.
PRODUCERS: dict[str, str] = {
    GENERATION_REQUESTED: "gateway", MODEL_RESPONSE_FINISHED: "gateway", SUBSCRIPTION_DISABLED: "gateway",
    GENERATION_STARTED: "runner", GENERATION_COMPLETED: "runner", GENERATION_FAILED: "runner",
    TOOLCALL_ADD_RECIPE: "runner", TOOLCALL_ADD_INGREDIENT: "runner", TOOLCALL_ADD_STEP: "runner",
    TOOLCALL_REJECTED: "runner",
    RECIPE_CREATED: "store", RECIPE_INGREDIENT_ADDED: "store", RECIPE_STEP_ADDED: "store", RECIPE_COMPLETED: "store",
    EVENTS_RECORDED: "store",
}

TOOLCALL_TYPES = (TOOLCALL_ADD_RECIPE, TOOLCALL_ADD_INGREDIENT, TOOLCALL_ADD_STEP)
RECIPE_TYPES = (RECIPE_CREATED, RECIPE_INGREDIENT_ADDED, RECIPE_STEP_ADDED, RECIPE_COMPLETED)


def recipe_id_for(generation_id: str, model_recipe_id: str) -> str:
    """The recipe document id: the model's snake-case id plus a short hash of the generation.

    The model reuses ids ("vegetarian_lasagne") across generations; deriving
    the document id from both keeps two generations' recipes apart, and is
    deterministic, so any service (and any replay) computes the same id.
    """
    digest = hashlib.sha256(generation_id.encode("utf-8")).hexdigest()[:8]
    return f"{model_recipe_id}-{digest}"
