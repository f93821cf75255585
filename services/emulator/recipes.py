"""The recipes the emulated model writes: the seed's lasagne, or a deterministic one derived from the prompt.

Pure functions apart from reading the packaged seed_recipe.json once.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

SEED_PATH = Path(__file__).with_name("seed_recipe.json")
YES_CHEF = "Yes chef!"


@dataclass(frozen=True)
class Recipe:
    id: str
    name: str
    description: str
    ingredients: tuple[tuple[str, str], ...]  # (ingredient, quantity)
    steps: tuple[str, ...]  # instructions; step_number is the 1-based position

    def add_recipe_args(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description}

    def ingredient_args(self) -> list[dict[str, Any]]:
        return [{"id": self.id, "ingredient": i, "quantity": q} for i, q in self.ingredients]

    def step_args(self) -> list[dict[str, Any]]:
        return [{"id": self.id, "step_number": n, "instructions": s} for n, s in enumerate(self.steps, 1)]


@lru_cache(maxsize=1)
def seed() -> dict[str, Any]:
    """The seed blog post's recipe, prompt, instructions and final message."""
    return json.loads(SEED_PATH.read_text(encoding="utf-8"))


def seed_recipe() -> Recipe:
    data = seed()
    return Recipe(
        id=data["recipe"]["id"], name=data["recipe"]["name"], description=data["recipe"]["description"],
        ingredients=tuple((i["ingredient"], i["quantity"]) for i in data["ingredients"]),
        steps=tuple(s["instructions"] for s in sorted(data["steps"], key=lambda s: s["step_number"])),
    )


_PANTRY = (
    ("Olive oil", "2 tbsp"), ("Onion, chopped", "1"), ("Garlic cloves, minced", "2"), ("Salt", "To taste"),
    ("Black pepper", "To taste"), ("Butter", "1 tbsp"), ("Lemon juice", "1 tbsp"), ("Fresh parsley", "A handful"),
    ("Vegetable stock", "500 ml"), ("Grated parmesan", "50 g"), ("Chilli flakes", "A pinch"), ("Spring onions", "3"),
    ("Cherry tomatoes", "200 g"), ("Smoked paprika", "1 tsp"), ("Honey", "1 tsp"), ("Fresh basil", "A few leaves"),
)
_METHODS = (
    "Prepare and measure all the ingredients.",
    "Heat the olive oil in a large pan over medium heat and soften the onion and garlic.",
    "Add the {dish} base ingredients and cook for 5-8 minutes, stirring often.",
    "Pour in the stock and simmer gently for 10-15 minutes.",
    "Season with salt and black pepper, and adjust to taste.",
    "Finish with the fresh herbs and a squeeze of lemon juice.",
    "Rest for a few minutes, then serve the {dish} warm.",
)
_STOP = {"a", "an", "the", "simple", "easy", "quick", "to", "cook", "recipe", "for", "of", "and", "with", "some",
         "design", "make", "me", "please", "create", "write", "give", "new", "tasty", "delicious"}


def dish_words(prompt: str) -> list[str]:
    """The dish the prompt asks for, as lowercase ascii words
    ("... recipe for mushroom risotto." -> mushroom, risotto)."""
    text = prompt.lower()
    match = re.search(r"recipe (?:for|of) ([^.!?\n]+)", text)
    phrase = match.group(1) if match else text.split(".")[0]
    words = [w for w in re.findall(r"[a-z0-9]+", phrase) if w not in _STOP]
    return words[:6] or ["house", "special"]


def recipe_for_prompt(prompt: str) -> Recipe:
    """Same prompt, same recipe. The seed's prompt (any prompt naming "vegetarian lasagne") gives the seed's recipe."""
    if "vegetarian lasagne" in prompt.lower():
        return seed_recipe()
    words = dish_words(prompt)
    digest = hashlib.sha256(prompt.strip().encode("utf-8")).digest()
    dish = " ".join(words)
    name = " ".join(w.capitalize() for w in words)
    main = [(w.capitalize(), f"{100 + 50 * (digest[i] % 6)} g") for i, w in enumerate(words[:3])]
    extra_count = 3 + digest[5] % 4
    start = digest[6] % len(_PANTRY)
    extras = [_PANTRY[(start + 3 * k) % len(_PANTRY)] for k in range(extra_count)]
    ingredients = tuple(dict.fromkeys(main + extras))
    step_count = 4 + digest[7] % 4
    steps = tuple(m.format(dish=dish) for m in _METHODS[:step_count - 1]) + (_METHODS[-1].format(dish=dish),)
    return Recipe(
        id="_".join(words)[:80].strip("_"),
        name=name,
        description=f"A simple, easy to follow {dish} for home cooks.",
        ingredients=ingredients,
        steps=steps,
    )


def final_message(recipe: Recipe, instructions: str | None) -> str:
    """The assistant's closing message; it opens with "Yes chef!" when the instructions ask for it."""
    data = seed()
    if recipe.id == data["recipe"]["id"]:
        body = data["final_message"].removeprefix(YES_CHEF).strip()
    else:
        body = (f"The {recipe.name} recipe has been created and added to the database along with all its "
                f"ingredients and cooking steps. It's ready to be prepared.")
    return f"{YES_CHEF} {body}" if instructions and YES_CHEF.lower() in instructions.lower() else body
