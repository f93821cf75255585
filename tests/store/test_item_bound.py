"""A recipe holds at most MAX_ITEMS_PER_RECIPE ingredients (and as many steps): a runaway model's
calls past it are refused as no change, the rest of the batch applied, nothing dead-lettered."""
from services.common import schemas
from services.store import updates
from services.store.domain import AddItem
from services.store.handlers import persist
from services.store.mongo import StoreDatabase
from tests.store.streams import seed_stream, tool_call


def _add(call: str, kind: str = "ingredients") -> AddItem:
    return AddItem("r1", kind, {"tool_call_id": call})


def test_adds_past_the_bound_are_refused_counting_what_the_recipe_holds_and_the_batch_itself():
    present = {"r1": {"ingredients": {"a", "b"}, "steps": set()}}
    missing, refused = updates.missing_items([_add("a"), _add("c"), _add("d"), _add("s", "steps")], present, bound=3)
    assert [a.item["tool_call_id"] for a in missing["r1"]["ingredients"]] == ["c"]
    assert [a.item["tool_call_id"] for a in refused] == ["d"]
    assert [a.item["tool_call_id"] for a in missing["r1"]["steps"]] == ["s"]  # each array has its own bound


def test_a_recipe_at_its_bound_refuses_more_ingredients_and_announces_none_of_them(mongo_db, monkeypatch):
    monkeypatch.setattr(updates, "MAX_ITEMS_PER_RECIPE", 20)
    db = StoreDatabase(mongo_db)
    db.ensure_indexes()
    stream = seed_stream()  # 19 ingredients, 9 steps
    gid = stream[0].data["generation_id"]
    recipe_id = schemas.recipe_id_for(gid, "vegetarian_lasagne")
    persist(db, stream)
    extra = [tool_call(gid, schemas.TOOLCALL_ADD_INGREDIENT, f"call_extra_{n}",
                       {"id": "vegetarian_lasagne", "ingredient": f"Salt {n}", "quantity": "1 pinch"}, 300 + n)
             for n in range(3)]
    announced = persist(db, extra)  # one batch: one fits, two are refused; the batch succeeds
    recipe = db.recipes.find_one({"_id": recipe_id})
    assert len(recipe["ingredients"]) == 20 and len(recipe["steps"]) == 9
    added = [e.data["ingredient"] for e in announced if e.type == schemas.RECIPE_INGREDIENT_ADDED]
    assert added == ["Salt 0"]
    logged = {d["_id"] for d in db.events.find({"generation_id": gid})}
    assert {e.id for e in extra} <= logged  # the refused calls' events are recorded, as applied with no change
