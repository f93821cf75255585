"""The served model list (GET /v1/models) and OpenAI's answer to a model it does not serve. No I/O.

The default list plays the platform on 2026-12-02 (OpenAI's deprecations page as read for issue 13):
gpt-6.1-sol and -terra served with no shutdown, gpt-5 / gpt-5-mini shutting down 2026-12-11, GPT-4o / 4.1
on 2027-01-14; retired models (gpt-4-1106-preview, shut down 2026-10-23) are not served.
"""
from __future__ import annotations

import datetime
from typing import Any

Model = tuple[str, "str | None"]  # (id, shutdown date YYYY-MM-DD or None)

DEFAULT_MODELS: tuple[Model, ...] = (
    ("gpt-6.1-sol", None), ("gpt-6.1-terra", None), ("gpt-6-luna", None),
    ("gpt-5", "2026-12-11"), ("gpt-5-mini", "2026-12-11"),
    ("gpt-4.1", "2027-01-14"), ("gpt-4o", "2027-01-14"),
)
_CREATED = 1_759_190_400  # 2026-09-30 (gpt-6.1-sol's release); one fixed time keeps the answers deterministic


class ModelNotFound(LookupError):
    """A request names a model this emulator does not serve (with strict models on)."""

    def __init__(self, model: str) -> None:
        super().__init__(f"The model `{model}` does not exist or you do not have access to it.")


def _model(entry: Any) -> Model:
    if isinstance(entry, str):
        name, _, when = entry.strip().partition("@")
        entry = {"id": name, "shutdown_date": when or None}
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"].strip():
        raise ValueError(f"model {entry!r} must be an id, 'id@YYYY-MM-DD' or {{\"id\", \"shutdown_date\"}}")
    date = entry.get("shutdown_date")
    if date is not None:
        try:
            datetime.date.fromisoformat(date)
        except (TypeError, ValueError):
            raise ValueError(f"shutdown_date {date!r} of {entry['id']} is not YYYY-MM-DD") from None
    return entry["id"].strip(), date


def parse_models(spec: Any) -> tuple[Model, ...]:
    """``"gpt-6.1-sol,gpt-5@2026-12-11"`` or a list of ids / {"id", "shutdown_date"} -> the served models."""
    entries = [part for part in spec.split(",") if part.strip()] if isinstance(spec, str) else spec
    if not isinstance(entries, (list, tuple)):
        raise ValueError("models must be a comma-separated string or a list")
    return tuple(_model(entry) for entry in entries)


def model_object(model: Model) -> dict[str, Any]:
    name, shutdown = model
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": "system", "shutdown_date": shutdown}


def check_model(served: tuple[Model, ...], strict: bool, name: Any) -> None:
    """Raise ModelNotFound for a model name the platform would refuse (only when ``strict``)."""
    if strict and isinstance(name, str) and name not in {model_id for model_id, _ in served}:
        raise ModelNotFound(name)
