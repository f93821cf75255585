"""GET /v1/models and /v1/models/{id}: the served list, as OpenAI answers it."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from services.emulator.app import knobs
from services.emulator.models import ModelNotFound, check_model, model_object

bp = Blueprint("models", __name__)


@bp.get("/models")
def list_models() -> Response:
    return jsonify(object="list", data=[model_object(m) for m in knobs().models])


@bp.get("/models/<path:model_id>")
def retrieve_model(model_id: str) -> Response:
    for model in knobs().models:
        if model[0] == model_id:
            return jsonify(model_object(model))
    raise ModelNotFound(model_id)


def require_model(name: Any) -> None:
    """404 model_not_found for a model the platform does not serve (only with strict_models on)."""
    current = knobs()
    check_model(current.models, current.strict_models, name)
