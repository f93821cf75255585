"""GET /asyncapi.json: the AsyncAPI 3.0 document of the events (services/common/asyncapi.py); open, like /healthz."""
from __future__ import annotations

from flask import Blueprint, Response

from services.common import asyncapi

bp = Blueprint("asyncapi", __name__)
_BODY = asyncapi.render()  # the document is the contract, fixed for the life of the process


@bp.get("/asyncapi.json")
def asyncapi_json() -> Response:
    return Response(_BODY, content_type="application/json")
