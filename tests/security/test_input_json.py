"""Hostile JSON where it enters the services' shared code: lone surrogates and deep nesting (docs/security.md)."""
import json

import pytest

from services.common.events import InvalidEvent, decode, derived_event_id, new_event
from services.common.schemas import GENERATION_REQUESTED, TOOLCALL_ADD_STEP
from services.common.tools import check_tool_call
from services.common.validation import MAX_JSON_DEPTH, UnsafeJson, parse_json

STEP = {"generation_id": "gen-1", "tool_call_id": "call_1",
        "arguments": {"id": "veg_lasagne", "step_number": 1, "instructions": "Preheat the oven."}}


def _envelope(data: object) -> dict:
    return {"specversion": "1.0", "id": "x", "source": "s", "type": TOOLCALL_ADD_STEP,
            "time": "2026-11-26T00:00:00.000Z", "data": data}


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("raw", ['{"a": "x\\ud800"}', '{"\\udc00": 1}', b'"\xed\xa0\x80"', '["ok", ["\\udfff"]]'])
def test_a_lone_surrogate_is_refused_by_parse_json(raw):
    with pytest.raises(UnsafeJson, match="lone surrogate"):
        parse_json(raw)


def test_nesting_at_the_bound_parses_and_one_deeper_is_refused():
    assert parse_json(_nested(MAX_JSON_DEPTH))
    with pytest.raises(UnsafeJson, match="deeper than 64"):
        parse_json(_nested(MAX_JSON_DEPTH + 1))


def test_nesting_that_would_overflow_the_parser_is_refused_not_a_recursion_error():
    with pytest.raises(UnsafeJson, match="deeper than 64"):
        parse_json(_nested(50_000))


def test_decode_refuses_a_lone_surrogate_as_an_invalid_event():
    body = json.dumps(_envelope({**STEP, "arguments": {**STEP["arguments"], "instructions": "\ud800"}}))
    with pytest.raises(InvalidEvent, match="lone surrogate"):
        decode(body.encode("ascii"))


def test_decode_refuses_deep_nesting_as_an_invalid_event():
    body = json.dumps(_envelope(STEP))[:-1] + ',"extra":' + _nested(20_000) + "}"
    with pytest.raises(InvalidEvent, match="deeper than 64"):
        decode(body.encode())


def test_a_producer_cannot_build_an_event_holding_a_lone_surrogate():
    with pytest.raises(InvalidEvent, match="lone surrogate"):
        new_event(GENERATION_REQUESTED, "test", {"generation_id": "g", "prompt": "soup \ud800"})


def test_a_derived_id_of_a_hostile_part_does_not_raise():
    assert derived_event_id("gen-1", "call_\ud800") != derived_event_id("gen-1", "call_")


@pytest.mark.parametrize("arguments", ['{"id": "x\\ud800", "name": "n", "description": "d"}',
                                       '{"id": "x", "name": "\ud800", "description": "d"}'])
def test_a_tool_call_with_a_lone_surrogate_is_rejected_with_a_reason(arguments):
    check = check_tool_call("addRecipe", arguments)
    assert not check.ok
    assert "lone surrogate" in check.error and "Send a JSON object" in check.error


def test_a_deeply_nested_tool_call_is_rejected_with_a_reason():
    check = check_tool_call("addRecipe", '{"id": ' + _nested(20_000) + "}")
    assert not check.ok
    assert "deeper than 64" in check.error


def test_the_runner_rejects_a_surrogate_tool_call_and_its_rejected_event_can_be_sent():
    from services.common.events import encode
    from services.runner.domain import Request, ToolCall, decide_tool_calls

    raw = '{"id": "soup", "name": "Soup\ud800", "description": "Hot."}'  # a raw surrogate, as the SDK may hand it
    batch = decide_tool_calls(Request("gen-1", "soup", None, None, None), [ToolCall("c1", "addRecipe", raw)])
    [event] = batch.events
    assert batch.rejected == 1 and event.type == "toolcall.rejected"
    assert "lone surrogate" in batch.outputs[0]["output"]
    assert decode(encode(event)).data["arguments"] == raw.encode("utf-8", "backslashreplace").decode()
