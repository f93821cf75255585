import json

from services.common.tools import TOOL_DEFINITIONS, assistants_tools, check_tool_call, responses_tools
from tests.fixtures.seed_tools import SEED_TOOLS


def test_tool_definitions_are_exactly_the_seeds():
    assert assistants_tools() == SEED_TOOLS


def test_responses_tools_are_flat_with_the_seeds_names_and_properties():
    for flat, definition in zip(responses_tools(), TOOL_DEFINITIONS):
        assert flat["type"] == "function"
        assert flat["name"] == definition["name"]
        assert flat["parameters"]["properties"] == definition["parameters"]["properties"]
        assert "function" not in flat


def test_responses_tools_are_strict_every_property_required_and_no_others():
    for flat in responses_tools():
        assert flat["strict"] is True
        assert flat["parameters"]["additionalProperties"] is False
        assert sorted(flat["parameters"]["required"]) == sorted(flat["parameters"]["properties"])


def test_strict_responses_tools_leave_the_seeds_assistants_tools_untouched():
    responses_tools()
    assert all("additionalProperties" not in tool["function"]["parameters"] for tool in assistants_tools())
    assert assistants_tools() == SEED_TOOLS


def test_valid_arguments_are_returned_parsed():
    check = check_tool_call("addStep", json.dumps({"id": "veg_lasagne", "step_number": 2, "instructions": "Bake."}))
    assert check.ok
    assert check.arguments == {"id": "veg_lasagne", "step_number": 2, "instructions": "Bake."}


def test_a_string_step_number_is_explained_to_the_model():
    check = check_tool_call("addStep", json.dumps({"id": "veg_lasagne", "step_number": "2", "instructions": "Bake."}))
    assert not check.ok
    assert "step_number" in check.error and "integer" in check.error and "addStep" in check.error


def test_missing_fields_are_named():
    check = check_tool_call("addIngredient", json.dumps({"id": "veg_lasagne", "ingredient": "Salt"}))
    assert '"quantity" is a required property' in check.error


def test_malformed_json_is_explained():
    check = check_tool_call("addRecipe", '{"id": "x", ')
    assert "not valid JSON" in check.error


def test_unknown_functions_are_listed_with_the_known_ones():
    check = check_tool_call("deleteRecipe", "{}")
    assert "unknown function 'deleteRecipe'" in check.error
    assert "addIngredient, addRecipe, addStep" in check.error
