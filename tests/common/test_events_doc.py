"""docs/events.md says what services/common/schemas.py and the producers do: types, data fields, ids.

The ids of the gateway's three events are checked where the gateway runs (tests/gateway/test_generations.py,
tests/gateway/test_openai_webhooks.py, tests/gateway/test_webhook_disable.py); the others here, built by the
runner's and the store's own rules.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from services.common import schemas
from services.common.events import CloudEvent, decode, encode, new_event
from services.common.tools import ARGUMENT_SCHEMAS, TOOL_EVENT_TYPES
from services.runner import domain
from services.store import outcomes
from tests.support.events_doc import data_fields, documented_id, rows

GATEWAY_CHECKED = {schemas.GENERATION_REQUESTED, schemas.MODEL_RESPONSE_FINISHED, schemas.SUBSCRIPTION_DISABLED}
TOOL_OF = {event_type: tool for tool, event_type in TOOL_EVENT_TYPES.items()}
GID = "gen-doc"


def _request() -> domain.Request:
    event = new_event(schemas.GENERATION_REQUESTED, "test", {"generation_id": GID, "prompt": "lasagne"})
    return domain.parse_request(decode(encode(event)))


def _calls() -> list[domain.ToolCall]:
    return [domain.ToolCall("call_r", "addRecipe", json.dumps({"id": "soup", "name": "Soup", "description": "Hot."})),
            domain.ToolCall("call_i", "addIngredient", json.dumps({"id": "soup", "ingredient": "leek",
                                                                   "quantity": "2"})),
            domain.ToolCall("call_s", "addStep", json.dumps({"id": "soup", "step_number": 1,
                                                             "instructions": "Boil."})),
            domain.ToolCall("call_x", "addStep", "{not json")]


def _runner_events() -> list[CloudEvent]:
    request = _request()
    return [domain.started_event(request, "assistants", "gpt-test", {"thread_id": "t", "run_id": "r"}),
            *domain.decide_tool_calls(request, _calls()).events,
            domain.completed_event(request, "Yes chef!", 3, 1),
            domain.failed_event(request, "run failed: boom", "server_error")]


def _store_events() -> list[tuple[CloudEvent, CloudEvent | None]]:
    """Each announcement with the tool call event it comes from (None for recipe.completed)."""
    toolcalls = [e for e in _runner_events() if e.type in schemas.TOOLCALL_TYPES]
    recipe_id = schemas.recipe_id_for(GID, "soup")
    recipe = {"_id": recipe_id, "generation_id": GID, "described_by": "call_r",
              "ingredients": [{"tool_call_id": "call_i"}], "steps": [{"tool_call_id": "call_s"}]}
    announced = outcomes.recipe_events(toolcalls, {recipe_id: recipe}, [GID])
    announced += outcomes.recorded_events(toolcalls, datetime.now(timezone.utc))
    sources = {schemas.RECIPE_CREATED: toolcalls[0], schemas.RECIPE_INGREDIENT_ADDED: toolcalls[1],
               schemas.RECIPE_STEP_ADDED: toolcalls[2]}
    return [(event, sources.get(event.type)) for event in announced]


def test_the_table_lists_every_event_type_of_the_contract_once():
    assert sorted(rows()) == sorted(schemas.DATA_SCHEMAS)


@pytest.mark.parametrize("event_type", sorted(schemas.DATA_SCHEMAS))
def test_a_row_lists_the_data_fields_of_its_schema_required_or_optional(event_type):
    schema = schemas.DATA_SCHEMAS[event_type]
    fields, nested = data_fields(rows()[event_type].data)
    assert {name for name, required in fields.items() if required} == set(schema["required"])
    assert set(fields) == set(schema["properties"])
    for name, listed in nested.items():
        assert listed == set(schema["properties"][name]["properties"]), f"{event_type}: {name}"
    if event_type in TOOL_OF:  # the tool's arguments are spelt out
        assert nested == {"arguments": set(ARGUMENT_SCHEMAS[TOOL_OF[event_type]]["properties"])}


def test_every_type_has_its_id_rule_checked_against_a_producer():
    built = {e.type for e in _runner_events()} | {e.type for e, _source in _store_events()}
    assert built | GATEWAY_CHECKED == set(schemas.DATA_SCHEMAS)


@pytest.mark.parametrize("event", _runner_events(), ids=lambda e: e.type)
def test_the_runner_gives_its_events_the_documented_id(event):
    assert event.id == documented_id(event)


@pytest.mark.parametrize("announced", _store_events(), ids=lambda pair: pair[0].type)
def test_the_store_gives_its_announcements_the_documented_id(announced):
    event, source = announced
    assert event.id == documented_id(event, source)
