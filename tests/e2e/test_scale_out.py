"""Two runners and two stores on the same queues give the same data as one of each."""
import requests

from tests.support.recipes import check_recipe, comparable
from tests.support.system import System
from tests.support.waiting import wait_for

PROMPTS = [f"Family supper {n}: {dish}" for n, dish in
           enumerate(("bean chilli", "fish pie", "mushroom risotto", "dal", "ratatouille", "gnocchi",
                      "shakshuka", "paella", "pad thai", "minestrone", "goulash", "falafel"))]


def _run(system: System, mongo_db) -> dict[str, dict]:
    by_prompt = {}
    for prompt in PROMPTS:
        response = requests.post(f"{system.gateway_url}/v1/generations", json={"prompt": prompt}, timeout=30)
        assert response.status_code == 202, response.text
        by_prompt[prompt] = response.json()["id"]
    ids = list(by_prompt.values())
    wait_for(lambda: mongo_db.generations.count_documents({"_id": {"$in": ids}, "status": "completed"}) == len(ids),
             timeout=180, message="all generations completed")
    wait_for(lambda: mongo_db.recipes.count_documents(
                 {"generation_id": {"$in": ids}, "status": "complete"}) == len(ids),
             timeout=60, message="all recipes complete")
    recipes = {}
    for prompt, generation_id in by_prompt.items():
        [doc] = list(mongo_db.recipes.find({"generation_id": generation_id}))
        recipes[prompt] = doc
    return recipes


def test_two_runners_and_two_stores_give_the_same_recipes_as_one_of_each(service_env, start_service, mongo_db):
    system = System(env=service_env, start_service=start_service)
    for name in ("emulator", "store-1", "store-2", "runner-1", "runner-2", "gateway"):
        system.start(name)
    scaled = _run(system, mongo_db)

    for prompt, doc in scaled.items():
        check = check_recipe(doc, prompt)
        assert check.exact, (prompt, check)
    # Both runners and both stores took part (the work was really shared).
    for name in ("runner-1", "runner-2", "store-1", "store-2"):
        assert system.processes[name].running

    # The same prompts once more through a single runner and store give equal documents.
    for name in ("runner-2", "store-2"):
        system.processes[name].terminate()
    mongo_db.recipes.delete_many({})
    single = _run(system, mongo_db)
    differences = {p: (comparable(single[p]), comparable(scaled[p])) for p in PROMPTS
                   if comparable(single[p]) != comparable(scaled[p])}
    assert not differences, "\n".join(f"{p}:\n  single {a}\n  scaled {b}" for p, (a, b) in differences.items())
