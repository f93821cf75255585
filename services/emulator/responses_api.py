"""Responses API endpoints (filled in after the Assistants API)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("responses", __name__)
