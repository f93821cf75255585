"""Reading the AsyncAPI document as a consumer would: the official schema, its messages as validators."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Mapping

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.json"
# The official AsyncAPI 3.0.0 JSON Schema, schemas/3.0.0.json of the npm package @asyncapi/specs 6.11.1
# (Apache-2.0): bundled by its publishers, every definition it references is inside it (draft-07 too).
OFFICIAL_SCHEMA = json.loads((ROOT / "tests" / "fixtures" / "asyncapi-3.0.0.schema.json").read_text())
_BASE = "urn:test:asyncapi"


def schema_errors(document: Mapping[str, Any]) -> list[str]:
    """What the official AsyncAPI 3.0 schema finds wrong with ``document`` (nothing when it is valid)."""
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in Draft7Validator(OFFICIAL_SCHEMA).iter_errors(document)]


def _validator(document: Mapping[str, Any], pointer: str) -> Draft7Validator:
    """A validator of the schema at ``pointer`` whose ``#/...`` references resolve inside ``document``."""
    registry = Registry().with_resource(_BASE, Resource.from_contents(dict(document), default_specification=DRAFT7))
    return Draft7Validator({"$ref": f"{_BASE}#{pointer}"}, registry=registry)


def payload_errors(document: Mapping[str, Any], event: Mapping[str, Any]) -> list[str]:
    """What the payload schema of the message named by the event's type finds wrong with the event."""
    messages = document["components"]["messages"]
    if event.get("type") not in messages:
        return [f"no message {event.get('type')!r} in the document"]
    validator = _validator(document, f"/components/messages/{event['type']}/payload")
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(event)]


def headers_errors(document: Mapping[str, Any], event_type: str, headers: Mapping[str, Any]) -> list[str]:
    validator = _validator(document, f"/components/messages/{event_type}/headers")
    return [error.message for error in validator.iter_errors(dict(headers))]


def references(node: Any) -> Iterator[str]:
    """Every ``$ref`` in a document, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def resolve(document: Mapping[str, Any], ref: str) -> Any:
    """The node a local ``#/a/b`` reference points at (KeyError when it points at nothing)."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def send_operations(document: Mapping[str, Any], event_type: str) -> list[dict[str, Any]]:
    channel = f"#/channels/{event_type}"
    return [op for op in document["operations"].values() if op["action"] == "send" and op["channel"]["$ref"] == channel]
