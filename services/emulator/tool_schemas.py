"""Strict function tools: OpenAI's structured-outputs rules for a ``strict: true`` tool's parameters. No I/O.

A strict schema needs ``additionalProperties: false`` and every property listed in ``required``, in every
object, nested ones included (inside ``properties``, ``items``, ``anyOf`` and ``$defs``). Non-strict tools
are not checked, as on the API.
"""
from __future__ import annotations

from typing import Any, Iterator

from services.emulator.state import BadRequest

Path = tuple[str, ...]


def _objects(schema: Any, path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "object" or "properties" in schema:
        yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _objects(sub, (*path, "properties", name))
    if "items" in schema:
        yield from _objects(schema["items"], (*path, "items"))
    for key in ("anyOf", "$defs", "definitions"):
        subs = schema.get(key) or {}
        for name, sub in (subs.items() if isinstance(subs, dict) else enumerate(subs)):
            yield from _objects(sub, (*path, key, str(name)))


def schema_problem(parameters: Any) -> str | None:
    """What makes ``parameters`` unacceptable as a strict schema, in OpenAI's words, or None."""
    for path, schema in _objects(parameters, ()):
        context = f"In context={path!r}"
        if schema.get("additionalProperties") is not False:
            return f"{context}, 'additionalProperties' is required to be supplied and to be false."
        required = schema.get("required")
        missing = [name for name in schema.get("properties") or {} if not isinstance(required, list)
                   or name not in required]
        if missing:
            return (f"{context}, 'required' is required to be supplied and to be an array including every key "
                    f"in properties. Missing '{missing[0]}'.")
    return None


def check_tools(tools: Any) -> None:
    """400 invalid_function_parameters for the first strict function tool whose schema breaks the rules.
    Both shapes: Responses' flat ``{type, name, parameters, strict}`` and Assistants' ``{type, function: {...}}``."""
    if not isinstance(tools, list):
        return
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        nested = isinstance(tool.get("function"), dict)
        function = tool["function"] if nested else tool
        if function.get("strict") is not True:
            continue
        problem = schema_problem(function.get("parameters") or {})
        if problem is not None:
            where = f"tools[{index}].function.parameters" if nested else f"tools[{index}].parameters"
            raise BadRequest(f"Invalid schema for function '{function.get('name')}': {problem}", where,
                             code="invalid_function_parameters")
