"""With API keys on, generations, their streams and recipes belong to the key that requested them."""
from __future__ import annotations

import hashlib
import uuid
from typing import Any, Iterator

import pytest

from services.common import topology
from tests.gateway.client import GatewayClient, assert_problem
from tests.gateway.conftest import declare
from tests.gateway.documents import insert_generation, insert_recipe

KEY_A, KEY_B, OPERATOR = "key-a", "key-b", "key-operator"


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@pytest.fixture
def key_a(launch_gateway, rabbitmq_url) -> GatewayClient:
    declare(rabbitmq_url, topology.RUNNER_GENERATIONS)
    return launch_gateway(api_key=KEY_A, GATEWAY_API_KEYS=f"{KEY_A},{KEY_B}", GATEWAY_OPERATOR_KEYS=OPERATOR,
                          GATEWAY_MAX_SUBSCRIPTIONS_PER_KEY="2")


def other(client: GatewayClient, key: str) -> GatewayClient:
    return GatewayClient(client.base_url, api_key=key)


@pytest.fixture
def key_b(key_a) -> Iterator[GatewayClient]:
    client = other(key_a, KEY_B)
    yield client
    client.close()


@pytest.fixture
def operator(key_a) -> Iterator[GatewayClient]:
    client = other(key_a, OPERATOR)
    yield client
    client.close()


def requested(client: GatewayClient) -> str:
    response = client.post_generation()
    assert response.status_code == 202, response.text
    return response.json()["id"]


def owned_recipe(db, key: str, slug: str, *, minutes: int = 0) -> str:
    gid = insert_generation(db, owner=fingerprint(key))
    recipe_id = insert_recipe(db, gid, slug, slug.title(), minutes=minutes)
    db.recipes.update_one({"_id": recipe_id}, {"$set": {"owner": fingerprint(key)}})
    return recipe_id


def blanked(problem: dict[str, Any], resource_id: str) -> dict[str, Any]:
    return {k: v.replace(resource_id, "ID") if isinstance(v, str) else v for k, v in problem.items()}


def test_the_request_record_and_event_name_the_requesting_key(key_a, mongo_db):
    gid = requested(key_a)
    assert mongo_db.gateway_requests.find_one({"_id": gid})["owner"] == fingerprint(KEY_A)


@pytest.mark.parametrize("path", ["", "/events"])
def test_another_keys_generation_is_a_404_exactly_like_a_missing_one(key_a, key_b, path):
    gid, missing = requested(key_a), str(uuid.uuid4())
    foreign = assert_problem(key_b.get(f"/v1/generations/{gid}{path}"), 404)
    absent = assert_problem(key_b.get(f"/v1/generations/{missing}{path}"), 404)
    assert blanked(foreign, gid) == blanked(absent, missing)
    assert key_a.get(f"/v1/generations/{gid}").status_code == 200


def test_a_generation_the_store_owns_for_another_key_is_a_404(key_a, key_b, mongo_db):
    gid = insert_generation(mongo_db, owner=fingerprint(KEY_A))
    assert_problem(key_b.get(f"/v1/generations/{gid}"), 404)
    assert key_a.get(f"/v1/generations/{gid}").json()["id"] == gid


def test_recipes_list_only_the_callers_own(key_a, key_b, mongo_db):
    mine, theirs = owned_recipe(mongo_db, KEY_A, "soup"), owned_recipe(mongo_db, KEY_B, "stew", minutes=1)
    insert_recipe(mongo_db, insert_generation(mongo_db), "legacy", "Legacy")  # no owner: no key's
    assert [r["id"] for r in key_a.get("/v1/recipes").json()["items"]] == [mine]
    assert [r["id"] for r in key_b.get("/v1/recipes").json()["items"]] == [theirs]


def test_another_keys_recipe_is_a_404_exactly_like_a_missing_one(key_a, key_b, mongo_db):
    recipe_id, missing = owned_recipe(mongo_db, KEY_A, "soup"), "nothing-0000abcd"
    foreign = assert_problem(key_b.get(f"/v1/recipes/{recipe_id}"), 404)
    absent = assert_problem(key_b.get(f"/v1/recipes/{missing}"), 404)
    assert blanked(foreign, recipe_id) == blanked(absent, missing)
    assert key_a.get(f"/v1/recipes/{recipe_id}").status_code == 200


def test_a_recipe_not_yet_stamped_belongs_to_its_requests_key(key_a, key_b, mongo_db):
    gid = requested(key_a)
    mongo_db.generations.delete_many({"_id": gid})
    recipe_id = insert_recipe(mongo_db, insert_generation(mongo_db, gid), "soup", "Soup")
    assert key_a.get(f"/v1/recipes/{recipe_id}").status_code == 200
    assert_problem(key_b.get(f"/v1/recipes/{recipe_id}"), 404)


def test_an_operator_key_reads_every_keys_data(key_a, operator, mongo_db):
    gid, recipe_id = requested(key_a), owned_recipe(mongo_db, KEY_A, "soup")
    assert operator.get(f"/v1/generations/{gid}").status_code == 200
    assert operator.get(f"/v1/recipes/{recipe_id}").status_code == 200
    assert recipe_id in [r["id"] for r in operator.get("/v1/recipes").json()["items"]]


def test_past_the_bound_a_key_cannot_subscribe_and_other_keys_still_can(key_a, key_b):
    for _ in range(2):
        key_a.subscribe("http://127.0.0.1:9/hooks")
    response = key_a.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/hooks", "event_types": ["recipe.*"]})
    assert assert_problem(response, 409)["type"].endswith("too-many-subscriptions")
    key_b.subscribe("http://127.0.0.1:9/hooks")


def test_with_api_keys_off_everything_is_shared(gateway, mongo_db):
    recipe_id = owned_recipe(mongo_db, KEY_A, "soup")
    assert gateway.get(f"/v1/recipes/{recipe_id}").status_code == 200
    assert [r["id"] for r in gateway.get("/v1/recipes").json()["items"]] == [recipe_id]
