"""What the emulated model will produce for a prompt, and how a stored recipe compares to it."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping

from services.emulator.recipes import recipe_for_prompt


@dataclass(frozen=True)
class RecipeCheck:
    lost_ingredients: int
    doubled_ingredients: int
    lost_steps: int
    doubled_steps: int
    wrong_name: bool

    @property
    def exact(self) -> bool:
        return not (self.lost_ingredients or self.doubled_ingredients or self.lost_steps
                    or self.doubled_steps or self.wrong_name)


def check_recipe(doc: Mapping[str, Any], prompt: str) -> RecipeCheck:
    """Compare a `recipes` document with the recipe the emulator generates for ``prompt``."""
    expected = recipe_for_prompt(prompt)
    want_ingredients = Counter((i, q) for i, q in expected.ingredients)
    got_ingredients = Counter((i["ingredient"], i["quantity"]) for i in doc.get("ingredients", []))
    want_steps = Counter((n, s) for n, s in enumerate(expected.steps, 1))
    got_steps = Counter((s["step_number"], s["instructions"]) for s in doc.get("steps", []))
    return RecipeCheck(
        lost_ingredients=sum((want_ingredients - got_ingredients).values()),
        doubled_ingredients=sum((got_ingredients - want_ingredients).values()),
        lost_steps=sum((want_steps - got_steps).values()),
        doubled_steps=sum((got_steps - want_steps).values()),
        wrong_name=doc.get("name") != expected.name,
    )


def comparable(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A recipe document without what differs between equal runs (ids, tool call ids, times)."""
    return {
        "slug": doc.get("slug"), "name": doc.get("name"), "description": doc.get("description"),
        "status": doc.get("status"),
        "ingredients": [(i["ingredient"], i["quantity"]) for i in doc.get("ingredients", [])],
        "steps": [(s["step_number"], s["instructions"]) for s in doc.get("steps", [])],
    }
