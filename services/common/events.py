"""The event contract: CloudEvents 1.0 in JSON structured mode.

An event's ``type`` is also its routing key on the topic exchange
(``toolcall.add_step``, ``recipe.created``...). ``decode`` either returns a
complete, valid event or raises ``InvalidEvent`` with the reason; it never
returns something half-read.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from services.common.rejection import Rejected
from services.common.schemas import DATA_SCHEMAS
from services.common.validation import Schema, UnsafeJson, json_refusal, parse_json

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"

# uuid5 namespace for ids derived from their source (stable across replays).
_EVENT_ID_NAMESPACE = uuid.UUID("7f1c3a52-2f43-4b7e-9d0e-5b8f3b6f2a11")

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["specversion", "id", "source", "type", "time", "data"],
    "properties": {
        "specversion": {"const": SPEC_VERSION},
        "id": {"type": "string", "minLength": 1, "maxLength": 200},
        "source": {"type": "string", "minLength": 1},
        "type": {"type": "string", "minLength": 1},
        "subject": {"type": "string", "minLength": 1},
        "time": {"type": "string", "format": "date-time", "minLength": 20},
        "datacontenttype": {"const": DATA_CONTENT_TYPE},
        "traceparent": {"type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"},
        "data": {"type": "object"},
    },
}
_ENVELOPE = Schema(ENVELOPE_SCHEMA)
_DATA = {event_type: Schema(schema) for event_type, schema in DATA_SCHEMAS.items()}


class InvalidEvent(Rejected):
    """A message is not a valid event of the contract; ``reason`` says why."""


@dataclass(frozen=True)
class CloudEvent:
    id: str
    type: str
    source: str
    data: Mapping[str, Any]
    subject: str | None = None
    time: str = field(default_factory=lambda: now_iso())
    traceparent: str | None = None

    @property
    def routing_key(self) -> str:
        return self.type

    def to_dict(self) -> dict[str, Any]:
        envelope: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "datacontenttype": DATA_CONTENT_TYPE,
            "data": dict(self.data),
        }
        if self.subject is not None:
            envelope["subject"] = self.subject
        if self.traceparent is not None:
            envelope["traceparent"] = self.traceparent
        return envelope


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event(
    event_type: str,
    source: str,
    data: Mapping[str, Any],
    *,
    subject: str | None = None,
    event_id: str | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """Build an event and check it against the contract (a bug here should fail at the producer)."""
    event = CloudEvent(
        id=event_id or str(uuid.uuid4()),
        type=event_type,
        source=source,
        data=data,
        subject=subject,
        traceparent=traceparent,
    )
    _validate(event.to_dict())
    return event


def derived_event_id(*parts: str) -> str:
    """A deterministic id: the same parts (e.g. generation id and tool call id) give the same id."""
    name = "/".join(parts)
    if not name.isascii():  # a lone surrogate (a model's tool call id) must not raise here; new_event refuses it
        name = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, name))


def encode(event: CloudEvent) -> bytes:
    """The event as UTF-8 JSON; raises UnicodeEncodeError on a lone surrogate (new_event refuses those first)."""
    return json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode(body: bytes | str) -> CloudEvent:
    """Parse and validate a structured-mode CloudEvent; raise InvalidEvent with the reason."""
    try:
        envelope = parse_json(body)
    except UnsafeJson as exc:  # not JSON, too deep, or a lone surrogate: poison, with the reason
        raise InvalidEvent(f"body is not JSON we accept: {exc.reason}") from None
    _validate(envelope, scanned=True)
    return CloudEvent(
        id=envelope["id"],
        type=envelope["type"],
        source=envelope["source"],
        data=envelope["data"],
        subject=envelope.get("subject"),
        time=envelope["time"],
        traceparent=envelope.get("traceparent"),
    )


def _validate(envelope: Any, scanned: bool = False) -> None:
    # A lone surrogate cannot be encoded (the publisher would fail); deep nesting would recurse.
    refusal = None if scanned else json_refusal(envelope)
    if refusal:
        raise InvalidEvent(f"envelope: {refusal}")
    error = _ENVELOPE.first_error(envelope)
    if error:
        raise InvalidEvent(f"envelope: {error}")
    schema = _DATA.get(envelope["type"])
    if schema is None:
        raise InvalidEvent(f"unknown event type {envelope['type']!r}")
    error = schema.first_error(envelope["data"])
    if error:
        raise InvalidEvent(f"data of {envelope['type']}: {error}")
