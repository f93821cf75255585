"""What the bench asks for and what it must get back: prompts, the expected tool calls, the failure type."""
from __future__ import annotations

from services.emulator.recipes import recipe_for_prompt, seed

DATABASE = "bench_e2e"

DISHES = ("mushroom risotto", "bean chilli", "fish pie", "lentil dal", "ratatouille", "potato gnocchi",
          "shakshuka", "paella", "pad thai", "minestrone", "goulash", "falafel")
TERMINAL = ("completed", "failed")


class BenchFailure(AssertionError):
    """Something was lost, doubled or wrong: the figures of this run mean nothing."""


def prompt_for(phase: str, index: int) -> str:
    """Every tenth prompt is the seed's (the 29-call lasagne); the rest give distinct derived recipes."""
    if index % 10 == 0:
        return seed()["prompt"]
    return f"Please write a recipe for {DISHES[index % len(DISHES)]} {phase} {index}."


def expected_tool_calls(prompt: str) -> int:
    recipe = recipe_for_prompt(prompt)
    return 1 + len(recipe.ingredients) + len(recipe.steps)
