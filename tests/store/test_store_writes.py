"""How the store keeps SecantusDB's work down, each shown to leave the documents the projection says."""
import itertools
import uuid

import pytest

from services.common import schemas
from services.store import mongo, updates
from services.store.domain import changes_for
from services.store.handlers import persist
from services.store.mongo import StoreDatabase
from services.store.outcomes import recipe_events
from services.store.projection import project
from tests.store.streams import seed_stream, tool_call


@pytest.fixture
def store_db(mongo_db):
    db = StoreDatabase(mongo_db)
    db.ensure_indexes()
    return db


def _documents(db, generation_ids):
    return {"recipes": {d["_id"]: d for d in db.recipes.find({"generation_id": {"$in": generation_ids}})},
            "generations": {d["_id"]: d for d in db.generations.find({"_id": {"$in": generation_ids}})}}


def _add_recipe(gid, call, name, offset_ms):
    arguments = {"id": "soup", "name": name, "description": name}
    return tool_call(gid, schemas.TOOLCALL_ADD_RECIPE, call, arguments, offset_ms)


def test_add_recipe_guards_use_no_or_which_secantusdb_answers_with_a_collection_scan():
    [change] = [c for c in changes_for(_add_recipe("g", "call_1", "Soup", 1)) if type(c).__name__ == "DescribeRecipe"]
    assert all("$or" not in op._filter for op in updates.describe_recipe(change))


@pytest.mark.parametrize("split", [False, True], ids=["one batch", "one batch each"])
def test_the_latest_add_recipe_wins_in_any_order_also_within_one_millisecond(store_db, split):
    for order in itertools.permutations(range(3)):
        gid = str(uuid.uuid4())
        calls = [_add_recipe(gid, "call_1", "Soup", 1), _add_recipe(gid, "call_2", "Leek soup", 2),
                 _add_recipe(gid, "call_3", "Leek and potato soup", 2)]  # same millisecond: call id decides
        events = [calls[i] for i in order]
        announced = [e for batch in ([[e] for e in events] if split else [events])
                     for e in persist(store_db, batch) if e.type == schemas.RECIPE_CREATED]
        recipe = store_db.recipes.find_one({"_id": schemas.recipe_id_for(gid, "soup")})
        assert (recipe["name"], recipe["described_by"]) == ("Leek and potato soup", "call_3")
        assert _documents(store_db, [gid]) == project(events)
        assert announced[-1].data["name"] == "Leek and potato soup"
        if not split:
            assert [e.data["name"] for e in announced] == ["Leek and potato soup"]


def test_reads_of_more_ids_than_one_in_list_holds_find_them_all(store_db, monkeypatch):
    monkeypatch.setattr(mongo, "IN_CHUNK", 3)
    streams = [seed_stream() for _ in range(10)]
    interleaved = [s[i] for i in range(len(streams[0])) for s in streams]  # every batch touches all ten
    gids = [s[0].data["generation_id"] for s in streams]
    announced = [e for start in range(0, len(interleaved), 40)
                 for e in persist(store_db, interleaved[start:start + 40])]
    assert _documents(store_db, gids) == project(interleaved)
    completed = [e for e in announced if e.type == schemas.RECIPE_COMPLETED]
    assert sorted(e.data["generation_id"] for e in completed) == sorted(gids)
    assert {(e.data["ingredient_count"], e.data["step_count"]) for e in completed} == {(19, 9)}


def test_a_generation_another_writer_created_after_the_read_still_gets_its_status_and_links(store_db):
    requested, started, *calls, completed = seed_stream()
    gid = requested.data["generation_id"]
    persist(store_db, [requested, started])
    changes = [c for e in [calls[0], completed] for c in changes_for(e)]
    store_db.apply_generations(changes, seen={})  # as if read before the generation existed
    doc = store_db.generations.find_one({"_id": gid})
    recipe_id = schemas.recipe_id_for(gid, calls[0].data["arguments"]["id"])
    assert (doc["status"], doc["status_rank"], doc["recipe_ids"]) == ("completed", 3, [recipe_id])


def test_ingredients_and_steps_are_announced_without_reading_their_recipe_back():
    stream = seed_stream()
    announced = recipe_events(stream, {}, [])
    assert [e.type for e in announced].count(schemas.RECIPE_INGREDIENT_ADDED) == 19
    assert [e.type for e in announced].count(schemas.RECIPE_STEP_ADDED) == 9
    assert schemas.RECIPE_CREATED not in [e.type for e in announced]  # which addRecipe won needs the read-back


def test_a_late_part_of_a_complete_recipe_keeps_its_completed_at_as_the_guarded_completion_does(store_db):
    stream = seed_stream()
    gid = stream[0].data["generation_id"]
    recipe_id = schemas.recipe_id_for(gid, "vegetarian_lasagne")
    persist(store_db, stream)
    sentinel = store_db.recipes.find_one({"_id": recipe_id})["completed_at"].replace(year=2020)
    store_db.recipes.update_one({"_id": recipe_id}, {"$set": {"completed_at": sentinel}})
    salt = {"id": "vegetarian_lasagne", "ingredient": "Salt", "quantity": "1 pinch"}
    late = tool_call(gid, schemas.TOOLCALL_ADD_INGREDIENT, "call_late", salt, 200)
    [done] = [e for e in persist(store_db, [late]) if e.type == schemas.RECIPE_COMPLETED]
    recipe = store_db.recipes.find_one({"_id": recipe_id})
    assert (recipe["status"], recipe["completed_at"], len(recipe["ingredients"])) == ("complete", sentinel, 20)
    assert done.data["ingredient_count"] == 20


def test_a_generation_another_writer_moved_on_after_the_read_is_read_again_not_set_back(store_db):
    requested, started, *calls, completed = seed_stream()
    gid = requested.data["generation_id"]
    persist(store_db, [requested, started])
    stale = store_db.find_generations([gid])  # running, no recipe linked yet
    persist(store_db, [calls[0], completed])  # another writer: the recipe linked, the generation completed
    changes = [c for c in changes_for(calls[1])]
    store_db.apply(changes, [calls[1]], stale, completing={}, owners={})  # its guards miss: read again, no error
    doc = store_db.generations.find_one({"_id": gid})
    recipe_id = schemas.recipe_id_for(gid, calls[0].data["arguments"]["id"])
    assert (doc["status"], doc["status_rank"], doc["recipe_ids"]) == ("completed", 3, [recipe_id])
