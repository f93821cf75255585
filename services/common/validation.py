"""JSON Schema validation for every service: schemas compiled once (jsonschema-rs), errors as plain text.

Validation sits on every hot path (each event produced or consumed, each tool
call, each request body), so it uses a compiled validator: the valid case is a
single ``is_valid`` call, about a hundred times cheaper than walking the schema
in Python. Errors are only collected when something is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import jsonschema_rs


@dataclass(frozen=True)
class SchemaError:
    """One violation: where in the instance (``a.b.0``, "" for the root) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class Schema:
    """A compiled Draft 2020-12 schema (formats are annotations, as the draft says)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._validator = jsonschema_rs.Draft202012Validator(schema)

    def errors(self, instance: Any) -> list[SchemaError]:
        """Every violation, ordered by position in the instance (empty when valid)."""
        if self._validator.is_valid(instance):
            return []
        found = [(tuple(str(part) for part in error.instance_path), error.message)
                 for error in self._validator.iter_errors(instance)]
        return [SchemaError(".".join(path), message) for path, message in sorted(found)]

    def first_error(self, instance: Any) -> SchemaError | None:
        errors = self.errors(instance)
        return errors[0] if errors else None
