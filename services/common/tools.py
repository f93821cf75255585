"""The three function tools of the seed, in one place.

Names, descriptions, parameters and required fields are exactly the seed's.
The same parameter schemas serve three purposes: the Assistants tool format
(nested under "function", the seed's verbatim), the Responses tool format (flat
and strict), and JSON Schema validation of the arguments the model sends.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.common.validation import MAX_JSON_DEPTH, Schema, UnsafeJson, parse_json


_RECIPE_ID = {"type": "string", "description": "The unique snake case name of this recipe"}

TOOL_DEFINITIONS: tuple[dict[str, Any], ...] = (
    {
        "name": "addRecipe",
        "description": "Add a recipe to the database",
        "parameters": {
            "type": "object",
            "properties": {
                "id": _RECIPE_ID,
                "name": {"type": "string", "description": "The unique short name of this recipe"},
                "description": {"type": "string", "description": "A brief description of this recipe"},
            },
            "required": ["id", "name", "description"],
        },
    },
    {
        "name": "addIngredient",
        "description": "Add an ingredient to a recipe",
        "parameters": {
            "type": "object",
            "properties": {
                "id": _RECIPE_ID,
                "ingredient": {"type": "string", "description": "The name of the ingredient"},
                "quantity": {"type": "string", "description": "Measure of how much of this ingredient is required"},
            },
            "required": ["id", "ingredient", "quantity"],
        },
    },
    {
        "name": "addStep",
        "description": "Add a cooking step to a recipe",
        "parameters": {
            "type": "object",
            "properties": {
                "id": _RECIPE_ID,
                "step_number": {"type": "integer", "description": "Which step this is in the recipe"},
                "instructions": {"type": "string", "description": "What the chef should do at this step in the recipe"},
            },
            "required": ["id", "step_number", "instructions"],
        },
    },
)

# Tool name -> the routing key / event type its calls are published as.
TOOL_EVENT_TYPES: dict[str, str] = {
    "addRecipe": "toolcall.add_recipe",
    "addIngredient": "toolcall.add_ingredient",
    "addStep": "toolcall.add_step",
}

# Stricter than the seed's schemas on purpose: empty ids or names and step
# numbers below 1 cannot make a usable recipe, so they go back to the model.
_VALIDATION_TIGHTENING: dict[str, dict[str, Any]] = {
    "id": {"minLength": 1, "maxLength": 200, "pattern": r"^[a-z0-9]+(_[a-z0-9]+)*$"},
    "name": {"minLength": 1, "maxLength": 200},
    "description": {"maxLength": 2000},
    "ingredient": {"minLength": 1, "maxLength": 500},
    "quantity": {"maxLength": 200},
    "step_number": {"minimum": 1, "maximum": 1000},
    "instructions": {"minLength": 1, "maxLength": 5000},
}


def _validation_schema(parameters: dict[str, Any]) -> dict[str, Any]:
    properties = {
        name: {**prop, **_VALIDATION_TIGHTENING.get(name, {})}
        for name, prop in parameters["properties"].items()
    }
    return {**parameters, "properties": properties, "additionalProperties": False}


ARGUMENT_SCHEMAS: dict[str, dict[str, Any]] = {
    tool["name"]: _validation_schema(tool["parameters"]) for tool in TOOL_DEFINITIONS
}
_VALIDATORS = {name: Schema(schema) for name, schema in ARGUMENT_SCHEMAS.items()}


def assistants_tools() -> list[dict[str, Any]]:
    """Tools in the Assistants API format: ``{"type": "function", "function": {...}}``."""
    return [{"type": "function", "function": json.loads(json.dumps(tool))} for tool in TOOL_DEFINITIONS]


def _strict_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    # Strict mode (structured outputs) wants every property required and no others allowed;
    # the seed's schemas already require every property, so only additionalProperties is added.
    return {**json.loads(json.dumps(parameters)), "required": list(parameters["properties"]),
            "additionalProperties": False}


def responses_tools() -> list[dict[str, Any]]:
    """Tools in the Responses API format: flat and strict (the model's arguments then follow the schema).

    The runner still validates every call (check_tool_call): strict mode does not enforce the
    tightening above, and an OpenAI-compatible server may not honour ``strict``.
    """
    return [{"type": "function", "name": tool["name"], "description": tool["description"],
             "parameters": _strict_parameters(tool["parameters"]), "strict": True} for tool in TOOL_DEFINITIONS]


@dataclass(frozen=True)
class ToolCallCheck:
    """The verdict on one tool call: its arguments, or why they are unusable."""

    arguments: dict[str, Any] | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def check_tool_call(name: str, raw_arguments: str) -> ToolCallCheck:
    """Parse and validate a model's tool call; the error text is written for the model to act on."""
    if name not in _VALIDATORS:
        known = ", ".join(sorted(_VALIDATORS))
        return ToolCallCheck(None, f"Error: unknown function {name!r}. Available functions: {known}.")
    try:
        arguments = parse_json(raw_arguments)
    except UnsafeJson as exc:
        return ToolCallCheck(None, f"Error: the arguments of {name} were refused ({exc.reason}). Send a JSON object "
                                   f"of valid Unicode text, at most {MAX_JSON_DEPTH} levels deep.")
    problems = _VALIDATORS[name].errors(arguments)
    if problems:
        details = "; ".join(str(problem) for problem in problems)
        return ToolCallCheck(None, f"Error: invalid arguments for {name}: {details}. "
                                   f"Call {name} again with corrected arguments.")
    return ToolCallCheck(arguments, None)

