"""Key B against key A's data, with the real gateway, runner, store and deliverer (docs/security.md, Tenancy)."""
from __future__ import annotations

import uuid

import pytest
import requests

from tests.support.system import System
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver

KEY_A, KEY_B = "tenant-a-key", "tenant-b-key"


def as_key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def system(service_env, start_service) -> System:
    env = {**service_env, "GATEWAY_API_KEYS": f"{KEY_A},{KEY_B}"}
    return System(env=env, start_service=start_service).start_all()


def get(system: System, path: str, key: str, **kwargs) -> requests.Response:
    return requests.get(system.gateway_url + path, headers=as_key(key), timeout=30, **kwargs)


def subscribe(system: System, key: str, receiver: WebhookReceiver) -> None:
    receiver.subscribe(system.gateway_url, headers=as_key(key))


def completed_generation(system: System, mongo_db) -> tuple[str, list[str]]:
    response = requests.post(f"{system.gateway_url}/v1/generations", headers=as_key(KEY_A), timeout=30,
                             json={"prompt": "A secret family recipe"})
    assert response.status_code == 202, response.text
    gid = response.json()["id"]
    wait_for(lambda: (mongo_db.generations.find_one({"_id": gid}) or {}).get("status") == "completed",
             timeout=120, message="the generation completed")
    return gid, [doc["_id"] for doc in mongo_db.recipes.find({"generation_id": gid})]


def test_key_b_reads_nothing_of_key_as_generation_stream_or_recipes(system, mongo_db):
    gid, recipe_ids = completed_generation(system, mongo_db)
    assert recipe_ids and get(system, f"/v1/generations/{gid}", KEY_A).status_code == 200
    missing = str(uuid.uuid4())
    for path in (f"/v1/generations/{gid}", f"/v1/generations/{gid}/events"):
        foreign = get(system, path, KEY_B)
        absent = get(system, path.replace(gid, missing), KEY_B)
        assert (foreign.status_code, absent.status_code) == (404, 404)
        assert foreign.json()["detail"].replace(gid, "ID") == absent.json()["detail"].replace(missing, "ID")
    for recipe_id in recipe_ids:
        assert get(system, f"/v1/recipes/{recipe_id}", KEY_B).status_code == 404
    for query in ({}, {"generation_id": gid}):
        assert get(system, "/v1/recipes", KEY_B, params=query).json()["items"] == []
        assert sorted(r["id"] for r in get(system, "/v1/recipes", KEY_A, params=query).json()["items"]) \
            == sorted(recipe_ids)


def test_key_bs_webhook_receives_none_of_key_as_recipe_events(system, mongo_db):
    with WebhookReceiver() as mine, WebhookReceiver() as theirs:
        subscribe(system, KEY_A, mine)
        subscribe(system, KEY_B, theirs)
        gid, recipe_ids = completed_generation(system, mongo_db)
        recipes = list(mongo_db.recipes.find({"generation_id": gid}))
        expected = sum(2 + len(r["ingredients"]) + len(r["steps"]) for r in recipes)
        wait_for(lambda: len(mine.event_ids()) >= expected, timeout=90, message="A's webhook deliveries")
        # Both subscriptions' records are made from the same batches: B's would exist by now.
        assert mongo_db.webhook_deliveries.count_documents({"url": theirs.url}) == 0
        assert theirs.count() == 0
        assert all(r.get("owner") for r in recipes)
