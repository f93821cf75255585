"""Webhook subscriptions belong to the API key that created them; with API keys off everything is shared."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from pymongo.database import Database

from services.common.events import new_event
from services.common.schemas import RECIPE_CREATED
from tests.gateway.client import GatewayClient, assert_problem
from tests.support.waiting import wait_for

KEY_A, KEY_B = "key-a", "key-b"
NOWHERE = "http://127.0.0.1:9/hooks"  # nothing listens: these tests are about the management API


@pytest.fixture
def key_a(launch_gateway) -> GatewayClient:
    return launch_gateway(api_key=KEY_A, GATEWAY_API_KEYS=f"{KEY_A},{KEY_B}")


@pytest.fixture
def key_b(key_a: GatewayClient) -> Iterator[GatewayClient]:
    """The same gateway, called with the other key."""
    client = GatewayClient(key_a.base_url, api_key=KEY_B)
    yield client
    client.close()


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def insert_subscription(db: Database, subscription_id: str, **owner: str) -> None:
    """A subscription as stored; without ``owner`` it is shaped like one created before ownership existed."""
    db.subscriptions.insert_one({"_id": subscription_id, "url": NOWHERE, "event_types": ["recipe.*"],
                                 "secret": "whsec_c2VjcmV0", "created_at": datetime.now(timezone.utc), **owner})


def listed_ids(client: GatewayClient) -> list[str]:
    response = client.get("/v1/subscriptions")
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def without_id(problem: dict[str, Any], subscription_id: str) -> dict[str, Any]:
    """A problem with the requested id (in detail and instance) blanked, to compare two 404s."""
    return {name: value.replace(subscription_id, "ID") if isinstance(value, str) else value
            for name, value in problem.items()}


def test_another_key_does_not_list_a_subscription(key_a, key_b):
    created = key_a.subscribe(NOWHERE)
    assert listed_ids(key_b) == []
    assert listed_ids(key_a) == [created["id"]]


def test_another_key_gets_404_for_a_subscription_exactly_like_a_missing_one(key_a, key_b):
    created = key_a.subscribe(NOWHERE)
    missing = "sub_" + "0" * 32
    for path in ("", "/deliveries"):
        foreign = assert_problem(key_b.get(f"/v1/subscriptions/{created['id']}{path}"), 404)
        absent = assert_problem(key_b.get(f"/v1/subscriptions/{missing}{path}"), 404)
        assert without_id(foreign, created["id"]) == without_id(absent, missing)


def test_another_key_cannot_delete_a_subscription(key_a, key_b):
    created = key_a.subscribe(NOWHERE)
    assert_problem(key_b.delete(f"/v1/subscriptions/{created['id']}"), 404)
    assert key_a.get(f"/v1/subscriptions/{created['id']}").status_code == 200
    assert listed_ids(key_a) == [created["id"]]


def test_another_key_cannot_enable_a_disabled_subscription(key_a, key_b, mongo_db):
    created = key_a.subscribe(NOWHERE)
    mongo_db.subscriptions.update_one({"_id": created["id"]}, {"$set": {"status": "disabled"}})
    assert_problem(key_b.post(f"/v1/subscriptions/{created['id']}/enable"), 404)
    assert key_a.get(f"/v1/subscriptions/{created['id']}").json()["status"] == "disabled"
    assert key_a.post(f"/v1/subscriptions/{created['id']}/enable").json()["status"] == "enabled"


def test_a_key_reads_and_deletes_its_own_subscription(key_a, key_b):
    created = key_a.subscribe(NOWHERE)
    key_b.subscribe(NOWHERE)  # another key's subscription alongside changes nothing for A
    assert key_a.get(f"/v1/subscriptions/{created['id']}").json()["id"] == created["id"]
    assert key_a.get(f"/v1/subscriptions/{created['id']}/deliveries").json() == {"items": []}
    assert key_a.delete(f"/v1/subscriptions/{created['id']}").status_code == 204
    assert_problem(key_a.get(f"/v1/subscriptions/{created['id']}"), 404)
    assert listed_ids(key_a) == []


def test_the_owner_is_stored_as_the_keys_fingerprint_never_the_key(key_a, mongo_db):
    created = key_a.subscribe(NOWHERE)
    stored = mongo_db.subscriptions.find_one({"_id": created["id"]})
    assert stored["owner"] == fingerprint(KEY_A)
    assert KEY_A not in {str(value) for value in stored.values()}
    assert "owner" not in created  # the API does not show it


def test_with_api_keys_off_every_subscription_is_shared_whoever_created_it(gateway, mongo_db):
    insert_subscription(mongo_db, "sub_legacy")  # created before subscriptions had owners
    insert_subscription(mongo_db, "sub_keyed", owner=fingerprint(KEY_A))  # created while keys were on
    created = gateway.subscribe(NOWHERE)
    assert sorted(listed_ids(gateway)) == sorted(["sub_legacy", "sub_keyed", created["id"]])
    for subscription_id in ("sub_legacy", "sub_keyed", created["id"]):
        assert gateway.get(f"/v1/subscriptions/{subscription_id}/deliveries").status_code == 200
        assert gateway.delete(f"/v1/subscriptions/{subscription_id}").status_code == 204


def test_with_api_keys_on_a_subscription_without_owner_belongs_to_no_key(key_a, mongo_db):
    insert_subscription(mongo_db, "sub_legacy")
    assert listed_ids(key_a) == []
    assert_problem(key_a.get("/v1/subscriptions/sub_legacy"), 404)
    assert_problem(key_a.delete("/v1/subscriptions/sub_legacy"), 404)
    assert mongo_db.subscriptions.count_documents({"_id": "sub_legacy"}) == 1


def test_an_event_is_delivered_only_to_its_owners_subscriptions(key_a, key_b, deliverer, publish):
    mine, theirs = key_a.subscribe(NOWHERE, [RECIPE_CREATED]), key_b.subscribe(NOWHERE, [RECIPE_CREATED])
    event = new_event(RECIPE_CREATED, "store", {"generation_id": "gen-1", "recipe_id": "soup-1234abcd",
                                                "name": "Soup", "description": "Hot.", "owner": fingerprint(KEY_A)},
                      subject="soup-1234abcd")
    publish([event])
    # The target refuses connections, so the deliverer keeps retrying; its record is what shows it tried.
    [record] = wait_for(lambda: [d for d in key_a.get(f"/v1/subscriptions/{mine['id']}/deliveries")
                                 .json()["items"] if d["attempts"] >= 1], timeout=30, message="an attempt")
    assert record["event_id"] == event.id
    # One batch records every subscriber's delivery at once: B's would exist by now.
    assert key_b.get(f"/v1/subscriptions/{theirs['id']}/deliveries").json() == {"items": []}


def test_an_event_without_owner_goes_to_the_key_whose_request_it_came_from(key_a, key_b, deliverer, publish,
                                                                         mongo_db):
    mongo_db.gateway_requests.insert_one({"_id": "gen-2", "owner": fingerprint(KEY_B)})
    mine, theirs = key_a.subscribe(NOWHERE, [RECIPE_CREATED]), key_b.subscribe(NOWHERE, [RECIPE_CREATED])
    event = new_event(RECIPE_CREATED, "store", {"generation_id": "gen-2", "recipe_id": "soup-1234abcd",
                                                "name": "Soup", "description": "Hot."}, subject="soup-1234abcd")
    publish([event])
    wait_for(lambda: key_b.get(f"/v1/subscriptions/{theirs['id']}/deliveries").json()["items"], timeout=30,
             message="a delivery record")
    assert key_a.get(f"/v1/subscriptions/{mine['id']}/deliveries").json() == {"items": []}
