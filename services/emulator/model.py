"""The scripted "model": which tool calls come next, given the conversation so far. No I/O.

Like the seed's GPT-4 run: ``addRecipe`` alone, then every ``addIngredient`` in one batch, then every
``addStep`` in one batch, then a closing assistant message. A tool output that starts with "Error" makes
the model resend that call, corrected, in the next batch before it moves on. Content faults (malformed
JSON, wrong types, unknown function names) only ever hit a call's first attempt, so a generation still
ends with the full recipe.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from services.emulator.recipes import Recipe, final_message

MAX_ATTEMPTS = 4  # a call the client keeps rejecting is given up after this many tries
_WRONG_NAMES = {"addRecipe": "createRecipe", "addIngredient": "addIngredients", "addStep": "addInstruction"}

Roll = Callable[[str], bool]  # fault name -> does it fire now?


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # what the model sends (possibly faulty)
    intended_name: str
    intended_args: dict[str, Any]
    attempt: int = 1
    fault: str | None = None  # the content fault this attempt carries, if any

    def api(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class Turn:
    """What the model produces next: a batch of tool calls, or a final message."""

    tool_calls: list[ToolCall] = field(default_factory=list)
    message: str | None = None


@dataclass
class Script:
    """One conversation's progress through the recipe."""

    recipe: Recipe
    instructions: str | None
    phase: int = 0  # 0 addRecipe, 1 ingredients, 2 steps, 3 message, 4 done
    pending: list[ToolCall] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.phase > 3


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def is_error_output(output: str) -> bool:
    return output.lstrip().lower().startswith("error")


def _phase_calls(script: Script) -> list[tuple[str, dict[str, Any]]]:
    recipe = script.recipe
    if script.phase == 0:
        return [("addRecipe", recipe.add_recipe_args())]
    if script.phase == 1:
        return [("addIngredient", args) for args in recipe.ingredient_args()]
    return [("addStep", args) for args in recipe.step_args()]


def _wrong_types(name: str, args: dict[str, Any]) -> dict[str, Any]:
    bad = dict(args)
    if name == "addStep":
        bad["step_number"] = str(args["step_number"])
    elif name == "addIngredient":
        bad["quantity"] = {"amount": args["quantity"]}
    else:
        bad["name"] = [args["name"]]
    return bad


DEEP_ARGS = 20_000
_FREE_TEXT = {"addRecipe": "description", "addIngredient": "ingredient", "addStep": "instructions"}


def faulty_call(name: str, args: dict[str, Any], roll: Roll) -> ToolCall:
    """A first attempt at a call, with at most one content fault applied."""
    text, sent_name, fault = json.dumps(args), name, None
    if roll("unknown_function"):
        sent_name, fault = _WRONG_NAMES[name], "unknown_function"
    elif roll("malformed_args"):
        text, fault = text[:-1], "malformed_args"  # truncated JSON: the closing brace is missing
    elif roll("wrong_types"):
        text, fault = json.dumps(_wrong_types(name, args)), "wrong_types"
    elif roll("lone_surrogate"):  # valid JSON that no UTF-8 text can hold (docs/security.md)
        field = _FREE_TEXT[name]  # free text passes the schema: only the Unicode check stops it
        text, fault = json.dumps({**args, field: args[field] + "\ud800"}), "lone_surrogate"
    elif roll("deep_args"):  # far past any sane nesting: a recursive parser would overflow
        text = json.dumps({**args, "id": "<deep>"}).replace('"<deep>"', "[" * DEEP_ARGS + "]" * DEEP_ARGS)
        fault = "deep_args"
    return ToolCall(new_call_id(), sent_name, text, name, args, fault=fault)


def next_turn(script: Script, outputs: Mapping[str, str], roll: Roll) -> Turn:
    """Advance ``script`` by one model turn, given the outputs for its pending calls (by call id)."""
    retries = [c for c in script.pending if is_error_output(outputs.get(c.id, "")) and c.attempt < MAX_ATTEMPTS]
    if retries:
        script.pending = [ToolCall(new_call_id(), c.intended_name, json.dumps(c.intended_args), c.intended_name,
                                   c.intended_args, c.attempt + 1) for c in retries]
        return Turn(tool_calls=list(script.pending))
    if script.phase >= 3:
        script.phase = 4
        script.pending = []
        return Turn(message=final_message(script.recipe, script.instructions))
    script.pending = [faulty_call(name, args, roll) for name, args in _phase_calls(script)]
    script.phase += 1
    return Turn(tool_calls=list(script.pending))
