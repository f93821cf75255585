"""The gateway's group commit (batching.GroupInserter) against a real MongoDB wire protocol."""
from __future__ import annotations

import threading

import pytest
from bson.errors import InvalidDocument
from pymongo.database import Database

from services.common.mongo import DURABLE
from services.gateway.batching import GroupInserter


def _insert_all(inserter: GroupInserter, docs: list[dict]) -> list[object]:
    results: list[object] = [None] * len(docs)

    def insert(index: int) -> None:
        try:
            results[index] = inserter.insert(docs[index], timeout=30)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each caller got
            results[index] = exc

    threads = [threading.Thread(target=insert, args=(i,)) for i in range(len(docs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_inserts_are_all_written_and_each_caller_told(mongo_db: Database):
    collection = mongo_db.get_collection("requests", write_concern=DURABLE)
    inserter = GroupInserter(collection, max_batch=4)  # smaller than the callers: several batches
    results = _insert_all(inserter, [{"_id": f"g{i}"} for i in range(40)])
    assert results == [True] * 40
    assert collection.count_documents({}) == 40


def test_an_existing_id_is_reported_not_raised(mongo_db: Database):
    collection = mongo_db.get_collection("requests", write_concern=DURABLE)
    collection.insert_one({"_id": "g1", "first": True})
    results = _insert_all(GroupInserter(collection), [{"_id": "g1"}, {"_id": "g2"}])
    assert sorted(results) == [False, True]
    assert collection.find_one({"_id": "g1"}) == {"_id": "g1", "first": True}


def test_a_document_that_cannot_be_written_raises_for_its_caller(mongo_db: Database):
    inserter = GroupInserter(mongo_db.get_collection("requests", write_concern=DURABLE))
    with pytest.raises(InvalidDocument):
        inserter.insert({"_id": "g1", "value": object()})
    assert inserter.insert({"_id": "g2"}) is True  # the inserter is still usable
