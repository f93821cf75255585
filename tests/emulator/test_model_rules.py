"""The scripted model, recipes and fault specs as plain functions (no HTTP)."""
from __future__ import annotations

import json

import pytest

from services.common.tools import check_tool_call
from services.emulator.faults import Dice, FaultSpecError, Knobs, parse_faults, updated_knobs
from services.emulator.model import MAX_ATTEMPTS, Script, next_turn
from services.emulator.recipes import final_message, recipe_for_prompt, seed_recipe

NEVER = lambda name: False  # noqa: E731


def _all_ok(turn) -> dict[str, str]:
    return {call.id: "OK" for call in turn.tool_calls}


def test_the_seed_prompt_match_is_case_insensitive() -> None:
    assert recipe_for_prompt("Make me a VEGETARIAN LASAGNE please") == seed_recipe()


@pytest.mark.parametrize("prompt", ["Design a recipe for Thai green curry.", "pancakes!!", "Ωμέγα soup, quickly"])
def test_every_derived_recipe_passes_the_tool_validation(prompt: str) -> None:
    recipe = recipe_for_prompt(prompt)

    assert recipe == recipe_for_prompt(prompt)
    assert len(recipe.ingredients) >= 3 and len(recipe.steps) >= 3
    assert check_tool_call("addRecipe", json.dumps(recipe.add_recipe_args())).ok
    assert all(check_tool_call("addStep", json.dumps(a)).ok for a in recipe.step_args())


def test_yes_chef_only_when_the_instructions_ask_for_it() -> None:
    recipe = recipe_for_prompt("a recipe for leek soup")

    assert final_message(recipe, "Always answer with 'Yes chef!'").startswith("Yes chef! The Leek Soup recipe")
    assert final_message(recipe, None).startswith("The Leek Soup recipe")


def test_turns_go_recipe_ingredients_steps_message() -> None:
    script = Script(seed_recipe(), None)
    shapes, outputs = [], {}
    while not script.done:
        turn = next_turn(script, outputs, NEVER)
        shapes.append(sorted({c.name for c in turn.tool_calls}) or "message")
        outputs = _all_ok(turn)

    assert shapes == [["addRecipe"], ["addIngredient"], ["addStep"], "message"]


def test_a_call_the_client_keeps_rejecting_is_given_up() -> None:
    script = Script(seed_recipe(), None)
    turn = next_turn(script, {}, NEVER)
    attempts = 1
    while turn.tool_calls and turn.tool_calls[0].name == "addRecipe":
        turn = next_turn(script, {turn.tool_calls[0].id: "Error: no"}, NEVER)
        attempts += 1

    assert attempts == MAX_ATTEMPTS + 1  # MAX_ATTEMPTS tries of addRecipe, then the ingredients
    assert turn.tool_calls[0].name == "addIngredient"


def test_fault_specs_are_validated() -> None:
    assert parse_faults("rate_limit=0.2, drop=1") == {"rate_limit": 0.2, "drop": 1.0}
    for bad in ("rate_limit", "rate_limit=2", "typo=0.1", "drop=x"):
        with pytest.raises(FaultSpecError):
            parse_faults(bad)
    with pytest.raises(ValueError):
        updated_knobs(Knobs(), {"think_ms": -1})


def test_the_same_seed_gives_the_same_fault_decisions() -> None:
    first, second = Dice(42), Dice(42)

    assert [first.roll(0.5) for _ in range(50)] == [second.roll(0.5) for _ in range(50)]
