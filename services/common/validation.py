"""JSON Schema validation for every service: schemas compiled once (jsonschema-rs), errors as plain text.

Validation sits on every hot path (each event produced or consumed, each tool
call, each request body), so it uses a compiled validator: the valid case is a
single ``is_valid`` call, about a hundred times cheaper than walking the schema
in Python. Errors are only collected when something is wrong.
"""
from __future__ import annotations

import json
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
        self._validator = jsonschema_rs.Draft202012Validator(dict(schema))

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


# Hostile JSON (docs/security.md): nesting deeper than this is refused before any
# recursive code (a schema validator, a serializer) sees it.
MAX_JSON_DEPTH = 64


class UnsafeJson(ValueError):
    """Input that is not JSON, nests deeper than MAX_JSON_DEPTH, or holds a lone surrogate; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: JSON allows "\ud800", UTF-8 (and BSON, AMQP) cannot carry it
        return False
    return True


def printable(text: str) -> str:
    """``text`` with any lone surrogate written as ``\\udXXX``, so it can be stored and sent as UTF-8."""
    return text if _encodable(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_refusal(value: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why a parsed JSON value is unsafe to pass on (too deep, a lone surrogate), or None.

    An explicit stack instead of recursion, so no input can raise RecursionError here.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return "a string holds invalid Unicode (a lone surrogate such as \\ud800)"
        elif isinstance(item, (dict, list)):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str) and not _encodable(key):
                        return "a key holds invalid Unicode (a lone surrogate such as \\ud800)"
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


def parse_json(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for untrusted input: raise UnsafeJson (never RecursionError) when it is not safe JSON."""
    try:
        value = json.loads(raw)
    except RecursionError:  # the stdlib parser recurses; far past max_depth anyway
        raise UnsafeJson(f"nested deeper than {max_depth} levels") from None
    except (UnicodeDecodeError, ValueError, TypeError) as exc:
        raise UnsafeJson(f"not valid JSON: {exc}") from None
    refusal = json_refusal(value, max_depth)
    if refusal:
        raise UnsafeJson(refusal)
    return value
