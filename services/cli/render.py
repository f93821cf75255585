"""How the CLI shows things to a person (pure functions: data in, text out)."""
from __future__ import annotations

from typing import Any, Mapping

_TOOL_LABELS = {
    "toolcall.add_recipe": "recipe",
    "toolcall.add_ingredient": "ingredient",
    "toolcall.add_step": "step",
}


def progress_line(event: Mapping[str, Any], counts: dict[str, int]) -> str | None:
    """One line per event of the SSE stream, with running counts."""
    kind, data = event.get("type"), event.get("data", {})
    args = data.get("arguments", {})
    if kind in _TOOL_LABELS:
        label = _TOOL_LABELS[kind]
        counts[label] = counts.get(label, 0) + 1
        if label == "recipe":
            return f"  + recipe      {args.get('name')} ({args.get('id')})"
        if label == "ingredient":
            return f"  + ingredient  #{counts[label]:<3} {args.get('quantity')} {args.get('ingredient')}"
        return f"  + step        #{args.get('step_number'):<3} {args.get('instructions')}"
    if kind == "generation.started":
        return f"  model run started ({data.get('backend')}, {data.get('model')})"
    if kind == "generation.completed":
        return f"  completed: {data.get('message')}"
    if kind == "generation.failed":
        return f"  FAILED: {data.get('reason')}"
    return None


def recipe_text(recipe: Mapping[str, Any]) -> str:
    """A recipe as a person would like to read it."""
    title = recipe.get("name") or recipe.get("id")
    lines = [str(title), "=" * len(str(title))]
    if recipe.get("description"):
        lines += [recipe["description"], ""]
    ingredients = recipe.get("ingredients", [])
    lines.append(f"Ingredients ({len(ingredients)})")
    width = max((len(i.get("quantity") or "") for i in ingredients), default=0)
    lines += [f"  - {(i.get('quantity') or '').ljust(width)}  {i.get('ingredient')}" for i in ingredients]
    steps = recipe.get("steps", [])
    lines += ["", f"Method ({len(steps)} steps)"]
    lines += [f"  {s.get('step_number')}. {s.get('instructions')}" for s in steps]
    lines += ["", f"(recipe id {recipe.get('id')}, generation {recipe.get('generation_id')})"]
    return "\n".join(lines)


def recipe_list_text(page: Mapping[str, Any]) -> str:
    items = page.get("data") or page.get("items") or []
    if not items:
        return "no recipes"
    return "\n".join(f"{r.get('id'):40}  {r.get('name') or ''}  ({len(r.get('ingredients', []))} ingredients, "
                     f"{len(r.get('steps', []))} steps)" for r in items)


def counts_text(counts: Mapping[str, int], status: str) -> str:
    """The progress bar's summary: status and what the model has added so far."""
    def many(label: str) -> str:
        n = counts.get(label, 0)
        return f"{n} {label}{'' if n == 1 else 's'}"
    return f"{status}: {many('recipe')}, {many('ingredient')}, {many('step')}"
