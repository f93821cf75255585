"""Every MongoDB write has a wtimeout and every client a socket timeout: a replica set without a majority
fails writes (retried as transient), never hangs them (issue 18, item 5)."""
from pymongo.errors import BulkWriteError, DuplicateKeyError, WTimeoutError

from services.common import mongo


def test_the_durable_write_concern_has_a_wtimeout():
    assert mongo.DURABLE.document == {"w": "majority", "j": True, "wtimeout": mongo.WRITE_TIMEOUT_MS}


def test_every_client_has_a_socket_timeout_above_the_wtimeout(mongo_uri):
    client = mongo.connect(mongo_uri, app_name="test")
    try:
        assert client.options.pool_options.socket_timeout * 1000 == mongo.SOCKET_TIMEOUT_MS > mongo.WRITE_TIMEOUT_MS
    finally:
        client.close()


def test_a_durable_write_with_the_wtimeout_is_accepted_by_the_server(mongo_db):
    collection = mongo_db.get_collection("wtimeout", write_concern=mongo.DURABLE)
    assert collection.insert_one({"_id": 1}).acknowledged


def test_a_write_concern_timeout_is_transient_and_a_refused_document_is_not():
    assert mongo.transient(WTimeoutError("waiting for replication timed out", 64))
    concern_only = BulkWriteError({"writeErrors": [], "writeConcernErrors": [{"code": 64, "errmsg": "timeout"}]})
    assert mongo.transient(concern_only) and not mongo.refused_document(concern_only)
    refused = BulkWriteError({"writeErrors": [{"index": 0, "code": 2}], "writeConcernErrors": [{"code": 64}]})
    assert not mongo.transient(refused) and mongo.refused_document(refused)
    assert not mongo.transient(DuplicateKeyError("E11000"))
