"""The store's rules as pure functions: replays and reordering cannot change the documents."""
import dataclasses
from datetime import datetime, timezone
import random

import pytest

from services.common import schemas
from services.common.events import decode, encode, new_event
from services.store.domain import NotForTheStore, changes_for, keywords
from services.store.outcomes import recipe_events, recorded_events
from services.store.projection import project
from tests.store.streams import SEED, seed_stream, tool_call

GID = "0d4bd0c1-5c41-4a8b-9c3e-6a0f4c1e2a77"
RECIPE_ID = schemas.recipe_id_for(GID, "vegetarian_lasagne")


def test_the_seed_stream_makes_one_recipe_with_19_ingredients_and_9_ordered_steps():
    recipes = project(seed_stream(GID))["recipes"]
    assert list(recipes) == [RECIPE_ID]
    recipe = recipes[RECIPE_ID]
    assert recipe["name"] == "Vegetarian Lasagne" and recipe["status"] == "complete"
    assert [i["ingredient"] for i in recipe["ingredients"]] == [i["ingredient"] for i in SEED["ingredients"]]
    assert [s["step_number"] for s in recipe["steps"]] == list(range(1, 10))
    assert [s["instructions"] for s in recipe["steps"]] == [s["instructions"] for s in SEED["steps"]]


def test_applying_the_stream_twice_changes_nothing():
    stream = seed_stream(GID)
    assert project(stream + stream) == project(stream)


@pytest.mark.parametrize("seed", range(5))
def test_any_arrival_order_gives_the_same_documents(seed):
    stream = seed_stream(GID)
    shuffled = random.Random(seed).sample(stream, len(stream))
    assert project(shuffled) == project(stream)


def test_parts_that_arrive_before_their_recipe_are_kept():
    stream = seed_stream(GID)
    add_recipe = stream[2]
    recipe = project([e for e in stream if e is not add_recipe] + [add_recipe])["recipes"][RECIPE_ID]
    assert (len(recipe["ingredients"]), len(recipe["steps"]), recipe["name"]) == (19, 9, "Vegetarian Lasagne")


def test_a_repeated_step_number_keeps_both_steps_in_call_order_whatever_the_arrival_order():
    first = tool_call(GID, schemas.TOOLCALL_ADD_STEP, "call_a", {"id": "soup", "step_number": 2,
                                                                   "instructions": "Chop."}, 10)
    second = tool_call(GID, schemas.TOOLCALL_ADD_STEP, "call_b", {"id": "soup", "step_number": 2,
                                                                    "instructions": "Chop finely."}, 20)
    one = tool_call(GID, schemas.TOOLCALL_ADD_STEP, "call_c", {"id": "soup", "step_number": 1,
                                                                 "instructions": "Boil."}, 30)
    for order in ([first, second, one], [one, second, first], [second, one, first]):
        steps = project(order)["recipes"][schemas.recipe_id_for(GID, "soup")]["steps"]
        assert [(s["step_number"], s["instructions"]) for s in steps] == [(1, "Boil."), (2, "Chop."),
                                                                          (2, "Chop finely.")]


def test_a_second_add_recipe_for_the_same_recipe_wins_by_call_time_in_any_order():
    old = tool_call(GID, schemas.TOOLCALL_ADD_RECIPE, "call_1", {"id": "soup", "name": "Soup", "description": "a"}, 1)
    new = tool_call(GID, schemas.TOOLCALL_ADD_RECIPE, "call_2", {"id": "soup", "name": "Leek soup",
                                                                  "description": "b"}, 2)
    for order in ([old, new], [new, old]):
        recipe = project(order)["recipes"][schemas.recipe_id_for(GID, "soup")]
        assert (recipe["name"], recipe["keywords"]) == ("Leek soup", ["leek", "soup"])


def test_two_generations_using_the_same_recipe_id_make_two_recipes():
    recipes = project(seed_stream("gen-one") + seed_stream("gen-two"))["recipes"]
    assert sorted(recipes) == sorted([schemas.recipe_id_for("gen-one", "vegetarian_lasagne"),
                                      schemas.recipe_id_for("gen-two", "vegetarian_lasagne")])
    assert all(len(r["ingredients"]) == 19 and len(r["steps"]) == 9 for r in recipes.values())


def test_a_late_generation_started_does_not_move_the_status_backwards():
    requested, started, *calls, completed = seed_stream(GID)
    generation = project([requested, *calls, completed, started])["generations"][GID]
    assert (generation["status"], generation["model"], generation["run_id"]) == ("completed", "gpt-4-1106-preview",
                                                                                 "run_1")


def test_the_store_has_no_rule_for_recipe_events():
    announcement = new_event(schemas.RECIPE_STEP_ADDED, "x", {"generation_id": GID, "recipe_id": "r",
                                                                 "step_number": 1, "instructions": "Boil."})
    with pytest.raises(NotForTheStore, match="recipe.step_added"):
        changes_for(announcement)


def test_keywords_are_the_lower_cased_words_of_name_and_slug():
    assert keywords("Vegetarian Lasagne", "vegetarian_lasagne") == ("lasagne", "vegetarian")


def test_recipe_events_have_ids_derived_from_their_source_and_announce_completion_with_counts():
    stream = seed_stream(GID)
    recipes = project(stream)["recipes"]
    first = recipe_events(stream, recipes, [GID])
    assert [e.id for e in recipe_events(stream, recipes, [GID])] == [e.id for e in first]
    types = [e.type for e in first]
    assert types.count(schemas.RECIPE_CREATED) == 1 and types.count(schemas.RECIPE_INGREDIENT_ADDED) == 19
    assert types.count(schemas.RECIPE_STEP_ADDED) == 9
    [completed] = [e for e in first if e.type == schemas.RECIPE_COMPLETED]
    assert (completed.data["ingredient_count"], completed.data["step_count"]) == (19, 9)


def test_every_recipe_event_the_store_builds_meets_the_event_contract():
    stream = seed_stream(GID)
    for announcement in recipe_events(stream, project(stream)["recipes"], [GID]):
        assert decode(encode(announcement)) == announcement


def test_ingredients_of_one_millisecond_keep_the_models_order_given_their_position():
    calls = [("call_zz", "Onion"), ("call_aa", "Garlic"), ("call_mm", "Salt")]
    events = []
    for position, (call, ingredient) in enumerate(calls):
        event = tool_call(GID, schemas.TOOLCALL_ADD_INGREDIENT, call,
                          {"id": "soup", "ingredient": ingredient, "quantity": "1"}, 10)  # same millisecond
        events.append(dataclasses.replace(event, data={**event.data, "position": position}))
    for order in (events, events[::-1]):
        recipe = project(order)["recipes"][schemas.recipe_id_for(GID, "soup")]
        assert [i["ingredient"] for i in recipe["ingredients"]] == ["Onion", "Garlic", "Salt"]


def test_a_batch_is_announced_once_per_generation_with_its_last_event_and_count_under_a_replayable_id():
    other = "7e1c2b9a-1111-4a8b-9c3e-6a0f4c1e2a77"
    batch = seed_stream(GID)[:5] + seed_stream(other)[:2]
    at = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    announced = recorded_events(batch, at)
    assert [(e.data["generation_id"], e.data["last_event_id"], e.data["events"]) for e in announced] == [
        (GID, batch[4].id, 5), (other, batch[6].id, 2)]
    assert {e.data["recorded_since"] for e in announced} == {"2026-01-01T12:00:00.123Z"}  # never after ``at``
    assert [e.id for e in recorded_events(batch, at)] == [e.id for e in announced]
    for event in announced:
        assert decode(encode(event)).type == schemas.EVENTS_RECORDED  # valid against the contract
