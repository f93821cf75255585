"""/v1/recipes: filtered, cursor-paginated listing and single recipes as JSON or schema.org JSON-LD."""
from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from services.gateway import tenancy, validation, views
from services.gateway.auth import scope
from services.gateway.cursor import decode_cursor, encode_cursor
from services.gateway.problems import ApiProblem
from services.gateway.resources import resources

bp = Blueprint("recipes", __name__, url_prefix="/v1/recipes")
JSON_LD = "application/ld+json"


@bp.get("")
def list_recipes() -> Response:
    query = validation.recipe_query(request.args)
    after = decode_cursor(query["cursor"]) if "cursor" in query else None
    docs = resources().store.read_model.list_recipes(query, after, owner=scope())
    page, more = docs[:query["limit"]], len(docs) > query["limit"]
    next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["_id"]) if more and page else None
    next_link = None
    if next_cursor:
        params = {k: v for k, v in query.items() if k not in ("cursor",)}
        next_link = "/v1/recipes?" + urlencode({**params, "cursor": next_cursor})
    body = {"items": [views.recipe_view(doc) for doc in page], "next_cursor": next_cursor,
            "links": {"next": next_link}}
    return Response(json.dumps(body), content_type="application/json")


@bp.get("/<recipe_id>")
def get_recipe(recipe_id: str) -> Response:
    validation.resource_id(recipe_id)
    store = resources().store
    doc = store.read_model.recipe(recipe_id)
    if doc is not None and not doc.get("owner") and scope() is not None:
        # The store stamps the owner once it has the generation's request; until then the
        # gateway's own request record says whose it is.
        generation_id = doc.get("generation_id") or ""
        doc = {**doc, "owner": store.requests.owners({generation_id}).get(generation_id)}
    if doc is None or not tenancy.visible(scope(), doc.get("owner")):
        raise ApiProblem(404, "not-found", "Not Found", f"No recipe {recipe_id}.")
    best = request.accept_mimetypes.best_match(["application/json", JSON_LD], default="application/json")
    if best == JSON_LD:
        response = Response(json.dumps(views.recipe_jsonld(doc)), content_type=JSON_LD)
    else:
        response = Response(json.dumps(views.recipe_view(doc)), content_type="application/json")
    response.headers["Vary"] = "Accept"
    return response
