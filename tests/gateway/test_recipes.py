"""GET /v1/recipes: filters, cursor pagination, newest first; single recipes as JSON or JSON-LD."""
from __future__ import annotations

import uuid

import pytest

from tests.gateway.client import assert_problem
from tests.gateway.documents import insert_generation, insert_recipe


@pytest.fixture
def cookbook(mongo_db):
    """Two generations, four recipes created one minute apart (lasagne newest)."""
    first, second = insert_generation(mongo_db), insert_generation(mongo_db)
    ids = {
        "soup": insert_recipe(mongo_db, first, "tomato_soup", "Tomato Soup", minutes=1,
                              ingredients=[("6", "Ripe Tomatoes"), ("1 l", "stock")], steps=["Simmer.", "Blend."]),
        "salad": insert_recipe(mongo_db, first, "greek_salad", "Greek Salad", minutes=2,
                               ingredients=[("200 g", "feta"), ("3", "cherry tomatoes")], steps=["Toss."]),
        "bread": insert_recipe(mongo_db, second, "soda_bread", "Soda Bread", minutes=3,
                               ingredients=[("500 g", "flour")], steps=["Mix.", "Bake."]),
        "lasagne": insert_recipe(mongo_db, second, "vegetarian_lasagne", "Vegetarian Lasagne", minutes=4,
                                 ingredients=[("12", "lasagne sheets"), ("400 g", "spinach")],
                                 steps=["Layer.", "Bake for 40 minutes.", "Rest."]),
    }
    return {"generations": (first, second), **ids}


def names(response):
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def test_recipes_are_listed_newest_first(gateway, cookbook):
    assert names(gateway.get("/v1/recipes")) == ["Vegetarian Lasagne", "Soda Bread", "Greek Salad", "Tomato Soup"]


def test_ingredient_filter_matches_case_insensitive_parts_of_an_ingredient(gateway, cookbook):
    assert names(gateway.get("/v1/recipes", params={"ingredient": "tomato"})) == ["Greek Salad", "Tomato Soup"]


def test_q_matches_every_word_of_the_name(gateway, cookbook):
    assert names(gateway.get("/v1/recipes", params={"q": "lasagne vegetarian"})) == ["Vegetarian Lasagne"]
    assert names(gateway.get("/v1/recipes", params={"q": "lasagne soup"})) == []


def test_generation_filter_lists_one_generations_recipes(gateway, cookbook):
    first = cookbook["generations"][0]
    assert names(gateway.get("/v1/recipes", params={"generation_id": first})) == ["Greek Salad", "Tomato Soup"]


def test_filter_values_never_act_as_mongodb_operators(gateway, cookbook):
    for value in ('{"$ne": null}', "$ne", ".*", "[$regex]"):
        assert names(gateway.get("/v1/recipes", params={"ingredient": value})) == []
        assert names(gateway.get("/v1/recipes", params={"generation_id": value})) == []
    assert_problem(gateway.get("/v1/recipes?generation_id[$ne]=x"), 400)


def test_cursor_pagination_walks_every_recipe_once(gateway, cookbook):
    seen, params = [], {"limit": 3}
    while True:
        page = gateway.get("/v1/recipes", params=params).json()
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"limit": 3, "cursor": page["next_cursor"]}
    assert seen == [cookbook[k] for k in ("lasagne", "bread", "salad", "soup")]


def test_pagination_keeps_the_filters_in_the_next_link(gateway, cookbook):
    page = gateway.get("/v1/recipes", params={"ingredient": "tomato", "limit": 1}).json()
    assert "ingredient=tomato" in page["links"]["next"]
    assert names(gateway.get(page["links"]["next"])) == ["Tomato Soup"]


def test_limit_and_cursor_are_validated(gateway, cookbook):
    assert_problem(gateway.get("/v1/recipes", params={"limit": 0}), 400)
    assert_problem(gateway.get("/v1/recipes", params={"limit": 1000}), 400)
    assert_problem(gateway.get("/v1/recipes", params={"cursor": "not-a-cursor"}), 400)


def test_a_recipe_as_json(gateway, cookbook):
    recipe = gateway.get(f"/v1/recipes/{cookbook['lasagne']}").json()
    assert recipe["name"] == "Vegetarian Lasagne" and recipe["slug"] == "vegetarian_lasagne"
    assert recipe["ingredients"][0] == {"ingredient": "lasagne sheets", "quantity": "12"}
    assert [s["step_number"] for s in recipe["steps"]] == [1, 2, 3]


def test_a_recipe_as_schema_org_json_ld(gateway, cookbook):
    response = gateway.get(f"/v1/recipes/{cookbook['lasagne']}", headers={"Accept": "application/ld+json"})
    assert response.headers["Content-Type"].startswith("application/ld+json")
    recipe = response.json()
    assert recipe["@context"] == "https://schema.org" and recipe["@type"] == "Recipe"
    assert recipe["name"] == "Vegetarian Lasagne" and recipe["description"]
    assert recipe["recipeIngredient"] == ["12 lasagne sheets", "400 g spinach"]
    assert recipe["recipeInstructions"][1] == {"@type": "HowToStep", "position": 2, "text": "Bake for 40 minutes."}


def test_an_unknown_recipe_is_a_404_problem(gateway, cookbook):
    assert_problem(gateway.get(f"/v1/recipes/missing-{uuid.uuid4().hex[:8]}"), 404)
