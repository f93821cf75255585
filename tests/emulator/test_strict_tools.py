"""Strict function tools: accepted only with additionalProperties false and every property required."""
from __future__ import annotations

import copy
from typing import Any

import openai
import pytest
from openai import OpenAI

from services.common.tools import assistants_tools, responses_tools
from tests.emulator.driver import SEED_PROMPT

MODEL = "gpt-6.1-sol"


def _strict(tool: dict[str, Any]) -> dict[str, Any]:
    strict = copy.deepcopy(tool)
    strict["strict"] = True
    strict["parameters"]["additionalProperties"] = False
    return strict


def _strict_tools() -> list[dict[str, Any]]:
    return [_strict(tool) for tool in responses_tools()]


def test_a_strict_schema_is_accepted(client: OpenAI) -> None:
    response = client.responses.create(model=MODEL, input=SEED_PROMPT, tools=_strict_tools())

    assert response.status == "completed" and response.tools[0].strict is True


def test_a_strict_tool_without_additional_properties_false_is_refused(client: OpenAI) -> None:
    tools = _strict_tools()
    del tools[0]["parameters"]["additionalProperties"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input=SEED_PROMPT, tools=tools)

    assert caught.value.body == {
        "message": "Invalid schema for function 'addRecipe': In context=(), 'additionalProperties' is required "
                   "to be supplied and to be false.",
        "type": "invalid_request_error", "param": "tools[0].parameters", "code": "invalid_function_parameters"}


def test_a_strict_tool_with_an_optional_property_is_refused(client: OpenAI) -> None:
    tools = _strict_tools()
    tools[2]["parameters"]["required"].remove("instructions")
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input=SEED_PROMPT, tools=tools)

    assert caught.value.message.endswith(
        "Invalid schema for function 'addStep': In context=(), 'required' is required to be supplied and to be "
        "an array including every key in properties. Missing 'instructions'.")


def test_a_nested_object_is_held_to_the_same_rules(client: OpenAI) -> None:
    tools = _strict_tools()
    tools[1]["parameters"]["properties"]["quantity"] = {
        "type": "object", "properties": {"amount": {"type": "number"}}, "required": ["amount"]}
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input=SEED_PROMPT, tools=tools)

    assert "In context=('properties', 'quantity'), 'additionalProperties'" in caught.value.message


def test_non_strict_tools_are_not_checked(client: OpenAI) -> None:
    response = client.responses.create(model=MODEL, input=SEED_PROMPT, tools=responses_tools())

    assert response.status == "completed"


def test_assistants_strict_function_tools_are_checked_too(client: OpenAI) -> None:
    tools = assistants_tools()
    tools[0]["function"]["strict"] = True
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.assistants.create(model=MODEL, name="strict", tools=tools)

    assert caught.value.param == "tools[0].function.parameters"
    assert caught.value.code == "invalid_function_parameters"
