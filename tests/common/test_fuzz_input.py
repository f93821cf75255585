"""Property-based: whatever Unicode, nesting or size arrives, each entry point answers only its documented refusal.

Bounded and reproducible (derandomize): a few hundred examples each, well under 20 s.
"""
from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.events import InvalidEvent, decode, encode
from services.common.schemas import GENERATION_REQUESTED, TOOLCALL_ADD_STEP
from services.common.tools import check_tool_call
from services.common.validation import UnsafeJson, parse_json
from services.gateway import validation
from services.gateway.problems import ApiProblem

BOUNDED = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Any code point, lone surrogates included (st.text leaves those out).
CHARS = st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr))
TEXT = st.lists(CHARS, max_size=40).map("".join)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(TEXT, inner, max_size=4)), max_leaves=30)
DEEP = st.tuples(st.integers(1, 5000), st.sampled_from(["[", '{"a":'])).map(
    lambda spec: spec[1] * spec[0] + "1" + ("]" if spec[1] == "[" else "}") * spec[0])


def _dumps(value: Any) -> str:
    # ensure_ascii: a lone surrogate travels as a "\ud800" escape, as a hostile client sends it
    return json.dumps(value)


def _encodable(value: Any) -> None:
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # raises on a lone surrogate


def _envelope(event_type: str, data: Any) -> dict:
    return {"specversion": "1.0", "id": "e1", "source": "fuzz", "type": event_type,
            "time": "2026-11-26T00:00:00.000Z", "data": data}


@BOUNDED
@given(st.one_of(st.binary(max_size=300), TEXT, VALUES.map(_dumps), DEEP,
                 VALUES.map(lambda v: _dumps(_envelope(TOOLCALL_ADD_STEP, {"generation_id": "g", "tool_call_id": "c",
                                                                            "arguments": v}))),
                 TEXT.map(lambda t: _dumps(_envelope(GENERATION_REQUESTED, {"generation_id": "g", "prompt": t})))))
def test_decode_returns_a_sendable_event_or_raises_invalid_event(body):
    try:
        event = decode(body)
    except InvalidEvent as refused:
        assert refused.reason
    else:
        encode(event)


@BOUNDED
@given(st.sampled_from(["addRecipe", "addIngredient", "addStep", "other", "\ud800"]),
       st.one_of(TEXT, VALUES.map(_dumps), DEEP,
                 st.dictionaries(st.sampled_from(["id", "name", "description", "ingredient", "quantity",
                                                  "step_number", "instructions"]), VALUES).map(_dumps)))
def test_check_tool_call_never_raises_and_accepts_only_sendable_arguments(name, raw):
    check = check_tool_call(name, raw)
    assert check.ok or check.error.startswith("Error:")
    if check.ok:
        _encodable(check.arguments)


@BOUNDED
@given(st.one_of(st.binary(max_size=300), VALUES.map(_dumps), DEEP,
                 st.dictionaries(st.sampled_from(["prompt", "model", "instructions", "url", "event_types"]),
                                 VALUES).map(_dumps)),
       st.sampled_from([validation.GENERATION_REQUEST_SCHEMA, validation.SUBSCRIPTION_SCHEMA]))
def test_a_gateway_body_is_clean_or_a_400(raw, schema):
    try:
        clean = validation.check_body(parse_json(raw), schema)
    except UnsafeJson as refused:
        assert refused.reason
    except ApiProblem as problem:
        assert problem.status == 400
    else:
        _encodable(clean)


@BOUNDED
@given(st.dictionaries(st.sampled_from(["ingredient", "q", "generation_id", "limit", "cursor", "x", "\ud800"]),
                       TEXT, max_size=5),
       st.binary(max_size=200))
def test_a_recipe_query_is_clean_or_a_400(args, raw_query):
    assert validation.query_refusal(raw_query) in (None, validation.QUERY_NOT_UTF8)
    try:
        query = validation.recipe_query(args)
    except ApiProblem as problem:
        assert problem.status == 400
    else:
        assert 1 <= query["limit"] <= validation.MAX_LIMIT
