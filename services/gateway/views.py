"""Pure rendering of stored documents into API representations (JSON and schema.org JSON-LD)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

# The store says "requested"; the gateway, before the store has caught up, says "queued".
_STATUS = {"requested": "queued", "queued": "queued", "running": "running",
           "completed": "completed", "failed": "failed"}


def iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else None


def recipe_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "slug": doc.get("slug"),
        "generation_id": doc.get("generation_id"),
        "name": doc.get("name"),
        "description": doc.get("description"),
        "status": doc.get("status", "draft"),
        "ingredients": [{"ingredient": i.get("ingredient"), "quantity": i.get("quantity")}
                        for i in doc.get("ingredients", [])],
        "steps": [{"step_number": s.get("step_number"), "instructions": s.get("instructions")}
                  for s in sorted(doc.get("steps", []), key=lambda s: s.get("step_number") or 0)],
        "created_at": iso(doc.get("created_at")),
        "updated_at": iso(doc.get("updated_at")),
        "completed_at": iso(doc.get("completed_at")),
        "links": {"self": f"/v1/recipes/{doc['_id']}",
                  "generation": f"/v1/generations/{doc.get('generation_id')}"},
    }


def recipe_jsonld(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A schema.org ``Recipe``: ingredients as "quantity ingredient", steps as ``HowToStep``."""
    steps = sorted(doc.get("steps", []), key=lambda s: s.get("step_number") or 0)
    rendered: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Recipe",
        "@id": f"/v1/recipes/{doc['_id']}",
        "identifier": doc["_id"],
        "name": doc.get("name") or doc.get("slug") or doc["_id"],
        "description": doc.get("description") or "",
        "recipeIngredient": [" ".join(p for p in (i.get("quantity"), i.get("ingredient")) if p)
                             for i in doc.get("ingredients", [])],
        "recipeInstructions": [{"@type": "HowToStep", "position": index, "text": s.get("instructions") or ""}
                               for index, s in enumerate(steps, start=1)],
    }
    if doc.get("created_at"):
        rendered["dateCreated"] = iso(doc["created_at"])
    return rendered


def generation_view(generation_id: str, stored: Mapping[str, Any] | None, request: Mapping[str, Any] | None,
                    recipes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What GET /v1/generations/{id} says: the store's view when it has one, the gateway's otherwise."""
    doc = stored or request or {}
    recipes = list(recipes)
    view: dict[str, Any] = {
        "id": generation_id,
        "status": _STATUS.get(doc.get("status", "queued"), "queued"),
        "prompt": doc.get("prompt"),
        "model": doc.get("model"),
        "instructions": doc.get("instructions"),
        "requested_at": iso(doc.get("requested_at") or (request or {}).get("requested_at")),
        "started_at": iso(doc.get("started_at")),
        "completed_at": iso(doc.get("completed_at")),
        "failed_at": iso(doc.get("failed_at")),
        "updated_at": iso(doc.get("updated_at") or doc.get("requested_at")),
        "counts": {
            "recipes": len(recipes),
            "ingredients": sum(len(r.get("ingredients", [])) for r in recipes),
            "steps": sum(len(r.get("steps", [])) for r in recipes),
        },
        "recipes": [{"id": r["_id"], "name": r.get("name"), "href": f"/v1/recipes/{r['_id']}"} for r in recipes],
        "links": links(generation_id),
    }
    if doc.get("status") == "failed" and doc.get("error"):
        error = doc["error"]
        view["error"] = {"reason": error.get("reason"), "code": error.get("code")}
    return view


def links(generation_id: str) -> dict[str, str]:
    return {"self": f"/v1/generations/{generation_id}",
            "events": f"/v1/generations/{generation_id}/events",
            "recipes": f"/v1/recipes?generation_id={generation_id}"}
