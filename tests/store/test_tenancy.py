"""The store copies a generation's owner (from generation.requested) onto its recipes and recipe events."""
import dataclasses
import uuid

import pytest

from services.common import schemas
from services.store.handlers import persist
from services.store.mongo import StoreDatabase
from tests.store.streams import seed_stream

OWNER = "0123456789abcdef"


@pytest.fixture
def store_db(mongo_db):
    db = StoreDatabase(mongo_db)
    db.ensure_indexes()
    return db


def owned_stream() -> list:
    stream = seed_stream(str(uuid.uuid4()))
    requested = stream[0]
    assert requested.type == schemas.GENERATION_REQUESTED
    return [dataclasses.replace(requested, data={**requested.data, "owner": OWNER}), *stream[1:]]


def recipes_of(db: StoreDatabase, gid: str) -> list[dict]:
    return list(db.recipes.find({"generation_id": gid}))


@pytest.mark.parametrize("order", ["in order", "request last", "one batch"])
def test_recipes_and_their_events_end_with_the_owner_in_any_order(store_db, order):
    stream = owned_stream()
    gid = stream[0].data["generation_id"]
    if order == "one batch":
        announced = persist(store_db, stream)
    else:
        batches = [stream[:1], stream[1:]] if order == "in order" else [stream[1:], stream[:1]]
        announced = [e for batch in batches for e in persist(store_db, batch)]
    assert store_db.generations.find_one({"_id": gid})["owner"] == OWNER
    recipes = recipes_of(store_db, gid)
    assert recipes and all(doc.get("owner") == OWNER for doc in recipes)
    if order != "request last":  # before the request, the store cannot know whose the events are
        assert announced and all(e.data.get("owner") == OWNER for e in announced)


def test_without_an_owner_nothing_is_stamped(store_db):
    stream = seed_stream(str(uuid.uuid4()))
    announced = persist(store_db, stream)
    gid = stream[0].data["generation_id"]
    assert all("owner" not in doc for doc in recipes_of(store_db, gid))
    assert all("owner" not in e.data for e in announced)
