import json

import pytest

from services.common.events import InvalidEvent, decode, derived_event_id, encode, new_event
from services.common.schemas import TOOLCALL_ADD_STEP

STEP = {"generation_id": "gen-1", "tool_call_id": "call_1",
        "arguments": {"id": "veg_lasagne", "step_number": 1, "instructions": "Preheat the oven."}}


def test_an_event_survives_encode_and_decode():
    event = new_event(TOOLCALL_ADD_STEP, "runner", STEP, subject="gen-1",
                      traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert decode(encode(event)) == event


def test_the_envelope_is_cloudevents_structured_mode():
    envelope = json.loads(encode(new_event(TOOLCALL_ADD_STEP, "runner", STEP, subject="gen-1")))
    assert envelope["specversion"] == "1.0"
    assert envelope["datacontenttype"] == "application/json"
    assert {"id", "source", "type", "time", "subject", "data"} <= set(envelope)


def test_tool_call_event_ids_are_derived_from_generation_and_call():
    assert derived_event_id("gen-1", "call_1") == derived_event_id("gen-1", "call_1")
    assert derived_event_id("gen-1", "call_1") != derived_event_id("gen-2", "call_1")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe not json", "not JSON"),
        (b"[1, 2]", "envelope"),
        (json.dumps({"specversion": "0.3"}).encode(), "envelope"),
        (json.dumps({"specversion": "1.0", "id": "x", "source": "s", "type": "cake.baked",
                     "time": "2026-11-26T00:00:00.000Z", "data": {}}).encode(), "unknown event type"),
        (json.dumps({"specversion": "1.0", "id": "x", "source": "s", "type": TOOLCALL_ADD_STEP,
                     "time": "2026-11-26T00:00:00.000Z",
                     "data": {**STEP, "arguments": {**STEP["arguments"], "step_number": "1"}}}).encode(),
         "arguments.step_number"),
    ],
)
def test_an_invalid_message_is_rejected_with_a_reason(body, reason):
    with pytest.raises(InvalidEvent) as error:
        decode(body)
    assert reason in error.value.reason


def test_a_producer_cannot_build_an_event_that_breaks_the_contract():
    with pytest.raises(InvalidEvent):
        new_event(TOOLCALL_ADD_STEP, "runner", {"generation_id": "gen-1"})
