"""The web page: `/` (ask for a recipe, watch it being written, browse and search) and `/recipes/<id>`.

Server-rendered shells (Flask templates) and one plain script, all served from here (no build
step, nothing from another origin). The script reads the same /v1 API any client does, with the
API key the person typed once (kept in the tab's sessionStorage) when GATEWAY_API_KEYS is on, so
the pages themselves need no key and show nobody's data. These routes are HTML for people, not
part of the API, so they are not in /openapi.json.
"""
from __future__ import annotations

from flask import Blueprint, Response, render_template

from services.gateway import validation

bp = Blueprint("web", __name__)

# Everything from this origin; no inline script or style (the JSON-LD block is data, not script).
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def _page(template: str, **context: object) -> Response:
    response = Response(render_template(template, **context), content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
def home() -> Response:
    return _page("home.html")


@bp.get("/recipes/<recipe_id>")
def recipe_page(recipe_id: str) -> Response:
    validation.resource_id(recipe_id)  # the ids the API accepts (a 404 problem otherwise)
    return _page("recipe.html", recipe_id=recipe_id)
