"""Words every service uses the same way: the read model's collections, the seed's request, how a
text becomes search words. One definition each, so a service that reads what another writes (the
gateway reading the store's collections) cannot drift from it."""
from __future__ import annotations

import re

# The read model (docs/data-model.md): written by the store, read by the gateway.
RECIPES = "recipes"
GENERATIONS = "generations"
GENERATION_EVENTS = "generation_events"

# The request of the blog post this project grew from (the demo's, the CLI's and the tests').
SEED_PROMPT = ("Design a simple easy to cook recipe for vegetarian lasagne. "
               "Add it to the database then add each ingredient to the recipe "
               "and finally, add each step for cooking to the recipe.")
SEED_INSTRUCTIONS = "Please address the user Chef. You must respond to any orders given by Chef with 'Yes chef!'"

_NOT_A_WORD = re.compile(r"[^0-9a-z]+")


def words(text: str) -> list[str]:
    """The lower-cased words of ``text`` (runs of ASCII letters and digits), in order: what a recipe's
    ``keywords`` hold and what a name search (``q``) matches."""
    return [word for word in _NOT_A_WORD.split(text.lower()) if word]
