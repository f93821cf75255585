"""docs/events.md read as data: its table's rows, data fields and event-id rules."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from services.common.events import CloudEvent, derived_event_id

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
_ID_RULE = re.compile(r"^derived\((?P<parts>.*)\)$")
_PART = re.compile(r'^(?:`(?P<field>\w+)`|"(?P<literal>[^"]*)"|(?P<source>source\.id))$')


@dataclass(frozen=True)
class Row:
    type: str
    producer: str
    consumers: str
    data: str
    event_id: str


def rows() -> dict[str, Row]:
    """The table's rows by event type (the first column, without its backticks)."""
    found: dict[str, Row] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        # "\|" inside a cell is a literal bar (an enum written a|b), not a column break.
        cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert len(cells) == 5, f"a row of five columns in docs/events.md: {line}"
        found[cells[0].strip("`")] = Row(*cells)
    return found


def data_fields(cell: str) -> tuple[dict[str, bool], dict[str, set[str]]]:
    """Top-level fields (name -> required) and the fields listed in braces after one (``arguments``).

    Text in parentheses is commentary and skipped; ``name?`` is optional.
    """
    fields: dict[str, bool] = {}
    nested: dict[str, set[str]] = {}
    parens = braces = 0
    last = ""
    for token in re.finditer(r"`([^`]+)`|[(){}]", cell):
        mark = token.group(0)
        if mark in "()":
            parens += 1 if mark == "(" else -1
        elif mark in "{}":
            braces += 1 if mark == "{" else -1
        elif parens == 0 and braces == 0:
            name = token.group(1)
            last = name.rstrip("?")
            fields[last] = not name.endswith("?")
        elif parens == 0:
            nested.setdefault(last, set()).add(token.group(1))
    return fields, nested


def id_parts(event_type: str) -> list[tuple[str, str]]:
    """The documented id rule of ``event_type`` as (kind, value) parts: field, literal or source."""
    rule = _ID_RULE.match(rows()[event_type].event_id)
    assert rule, f"docs/events.md: the id of {event_type} is not written derived(...)"
    parts = []
    for raw in rule.group("parts").split(","):
        part = _PART.match(raw.strip())
        assert part, f"docs/events.md: unreadable part {raw!r} of the id of {event_type}"
        kind = next(k for k, v in part.groupdict().items() if v is not None)
        parts.append((kind, part.group(kind)))
    return parts


def documented_id(event: CloudEvent, source: CloudEvent | None = None) -> str:
    """The id docs/events.md says ``event`` has (``source``: the event it was derived from)."""
    values: list[str] = []
    data: Mapping[str, Any] = event.data
    for kind, value in id_parts(event.type):
        if kind == "field":
            values.append(str(data[value]))
        elif kind == "literal":
            values.append(value)
        else:
            assert source is not None, f"{event.type}: its id needs the source event"
            values.append(source.id)
    return derived_event_id(*values)
