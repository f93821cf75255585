import json

from services.common.tools import TOOL_DEFINITIONS, assistants_tools, check_tool_call, responses_tools
from tests.fixtures.seed_tools import SEED_TOOLS


def test_tool_definitions_are_exactly_the_seeds():
    assert assistants_tools() == SEED_TOOLS


def test_responses_tools_are_flat_with_the_same_parameters():
    for flat, definition in zip(responses_tools(), TOOL_DEFINITIONS):
        assert flat["type"] == "function"
        assert flat["name"] == definition["name"]
        assert flat["parameters"] == definition["parameters"]
        assert "function" not in flat


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
