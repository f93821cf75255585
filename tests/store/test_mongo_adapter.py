"""The MongoDB adapter against the real database: it writes what the pure projection says."""
import random

import pytest

from services.common import schemas
from services.store.handlers import persist
from services.store.mongo import StoreDatabase
from services.store.projection import project
from tests.store.streams import seed_stream, tool_call

GID = "5b7d3a1e-0c4f-4e21-8f59-1a2b3c4d5e6f"
RECIPE_ID = schemas.recipe_id_for(GID, "vegetarian_lasagne")


@pytest.fixture
def store_db(mongo_db):
    db = StoreDatabase(mongo_db)
    db.ensure_indexes()
    return db


def _write(db, events, batch_size):
    for start in range(0, len(events), batch_size):
        persist(db, events[start:start + batch_size])


def _documents(db):
    return {"recipes": {d["_id"]: d for d in db.recipes.find()},
            "generations": {d["_id"]: d for d in db.generations.find()}}


def test_the_database_holds_exactly_what_the_projection_says(store_db):
    stream = seed_stream(GID)
    _write(store_db, stream, batch_size=7)
    assert _documents(store_db) == project(stream)


@pytest.mark.parametrize("batch_size", [1, 5, 500])
def test_replayed_and_shuffled_batches_give_the_same_documents(store_db, batch_size):
    stream = seed_stream(GID)
    shuffled = random.Random(batch_size).sample(stream, len(stream))
    _write(store_db, shuffled + stream, batch_size)
    documents = _documents(store_db)
    assert documents == project(stream)
    recipe = documents["recipes"][RECIPE_ID]
    assert (len(recipe["ingredients"]), [s["step_number"] for s in recipe["steps"]]) == (19, list(range(1, 10)))


def test_every_applied_event_is_logged_once(store_db):
    stream = seed_stream(GID)
    _write(store_db, stream + stream[:10], batch_size=8)
    logged = list(store_db.events.find({"generation_id": GID}).sort([("recorded_at", 1), ("_id", 1)]))
    assert sorted(d["_id"] for d in logged) == sorted(e.id for e in stream)


def test_two_generations_recipes_with_the_same_model_id_never_merge(store_db):
    _write(store_db, seed_stream("gen-a") + seed_stream("gen-b"), batch_size=40)
    recipes = list(store_db.recipes.find({"slug": "vegetarian_lasagne"}))
    assert sorted(r["generation_id"] for r in recipes) == ["gen-a", "gen-b"]
    assert [(len(r["ingredients"]), len(r["steps"])) for r in recipes] == [(19, 9), (19, 9)]


def test_start_up_creates_the_indexes_with_unique_generation_and_slug(store_db):
    indexes = store_db.recipes.index_information()
    assert indexes["generation_slug"]["unique"] is True
    assert {"keywords", "ingredient", "created_at"} <= set(indexes)
    assert "generation_recorded" in store_db.events.index_information()


def test_the_documented_queries_find_the_recipe(store_db):
    _write(store_db, seed_stream(GID), batch_size=50)
    by_ingredient = store_db.recipes.find_one({"ingredients.ingredient": "Dried basil"}, {"_id": 1})
    by_words = store_db.recipes.find_one({"keywords": {"$all": ["vegetarian", "lasagne"]}}, {"_id": 1})
    [latest] = store_db.recipes.find({"status": "complete"}, {"_id": 1}).sort("created_at", -1).limit(1)
    assert by_ingredient["_id"] == by_words["_id"] == latest["_id"] == RECIPE_ID


def test_a_recipe_that_arrives_after_its_generation_completed_is_completed_too(store_db):
    requested, started, *calls, completed = seed_stream(GID)
    _write(store_db, [requested, started, completed], batch_size=10)
    announcements = persist(store_db, calls)
    recipe = store_db.recipes.find_one({"_id": RECIPE_ID})
    assert recipe["status"] == "complete"
    [done] = [e for e in announcements if e.type == schemas.RECIPE_COMPLETED]
    assert (done.data["ingredient_count"], done.data["step_count"]) == (19, 9)


def test_ingredients_of_one_millisecond_are_stored_in_the_models_order_given_their_position(store_db):
    names = ["Onion", "Garlic", "Salt", "Oil"]
    events = [tool_call(GID, schemas.TOOLCALL_ADD_INGREDIENT, f"call_{code}", {"id": "soup", "ingredient": name,
                                                                               "quantity": "1"}, 10, position=i)
              for i, (code, name) in enumerate(zip(["zz", "aa", "mm", "bb"], names))]
    _write(store_db, events[::-1], batch_size=2)
    recipe = store_db.recipes.find_one({"_id": schemas.recipe_id_for(GID, "soup")})
    assert [i["ingredient"] for i in recipe["ingredients"]] == names
