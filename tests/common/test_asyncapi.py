"""The AsyncAPI document (services/common/asyncapi.py): valid AsyncAPI 3.0, committed as generated, and saying
what the contract and the broker do. That real events validate against it: tests/e2e/test_asyncapi_events.py."""
from __future__ import annotations

import json
import subprocess
import sys

import pika
import pytest

from services.common import asyncapi, schemas, topology
from services.common.events import new_event
from tests.support.asyncapi import (COMMITTED, payload_errors, references, resolve, schema_errors,
                                    send_operations)
from tests.support.broker import publish_raw
from tests.support.events_doc import rows

DOC = asyncapi.document()


def test_the_document_is_valid_against_the_official_asyncapi_3_schema():
    assert DOC["asyncapi"] == "3.0.0"
    assert schema_errors(DOC) == []


def test_the_official_schema_refuses_a_broken_binding():
    broken = asyncapi.document()
    broken["channels"]["store.events"]["bindings"]["amqp"]["queue"]["durable"] = "yes"
    assert schema_errors(broken)


def test_every_reference_resolves_and_an_operation_names_only_its_channels_messages():
    for ref in references(DOC):
        resolve(DOC, ref)
    for name, operation in DOC["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), name
            resolve(DOC, message["$ref"])


def test_docs_asyncapi_json_is_the_generated_document():
    assert COMMITTED.read_text(encoding="utf-8") == asyncapi.render(), \
        "regenerate it: make asyncapi (python -m services.common.asyncapi docs/asyncapi.json)"


def test_one_command_writes_the_document(tmp_path):
    target = tmp_path / "asyncapi.json"
    subprocess.run([sys.executable, "-m", "services.common.asyncapi", str(target)], check=True, timeout=60)
    assert json.loads(target.read_text()) == DOC


@pytest.mark.parametrize("event_type", sorted(schemas.DATA_SCHEMAS))
def test_each_type_is_a_message_sent_by_the_producer_docs_events_md_names(event_type):
    (operation,) = send_operations(DOC, event_type)
    assert operation["tags"] == [{"name": rows()[event_type].producer.split()[0]}]
    assert operation["bindings"]["amqp"] == {"deliveryMode": 2, "mandatory": True, "bindingVersion": "0.3.0"}
    assert DOC["components"]["messages"][event_type]["payload"]["allOf"][1]["properties"]["data"] == \
        {"$ref": f"#/components/schemas/{event_type}.data"}
    assert DOC["components"]["schemas"][f"{event_type}.data"] == schemas.DATA_SCHEMAS[event_type]


def test_a_message_refuses_an_event_of_another_producer_or_with_data_missing():
    event = new_event(schemas.GENERATION_FAILED, "runner", {"generation_id": "g", "reason": "boom"}).to_dict()
    assert payload_errors(DOC, event) == []
    assert payload_errors(DOC, {**event, "source": "store"})
    assert payload_errors(DOC, {**event, "data": {"generation_id": "g"}})
    assert payload_errors(DOC, {**event, "type": schemas.GENERATION_COMPLETED})


def test_each_queue_channel_lists_exactly_the_types_the_broker_routes_to_it(rabbitmq_url):
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        topology.declare(connection.channel(), topology.WORK_QUEUES, delivery_limit=20)
        model_events = topology.declare_model_events_queue(connection.channel(), "test")
        live_events = topology.declare_live_events_queue(connection.channel(), "test")
        queues = {spec.name: spec.name for spec in topology.WORK_QUEUES} | {"runner.model-events": model_events,
                                                                           "gateway.live": live_events}
        # A type no queue of the system is bound for (subscription.disabled, for outside subscribers) is
        # published without mandatory: it must then appear in no queue channel.
        consumed = {message for channel_id in queues for message in DOC["channels"][channel_id]["messages"]}
        for event_type in schemas.DATA_SCHEMAS:
            publish_raw(rabbitmq_url, event_type, event_type.encode(), mandatory=event_type in consumed)
        for channel_id, queue in queues.items():
            assert sorted(_take_all(connection, queue)) == sorted(DOC["channels"][channel_id]["messages"]), channel_id
    finally:
        connection.close()


def _take_all(connection: pika.BlockingConnection, queue: str) -> list[str]:
    """Every body in ``queue`` (on this connection: the hint queues are exclusive to it)."""
    channel, bodies = connection.channel(), []
    while (message := channel.basic_get(queue, auto_ack=True))[0] is not None:
        bodies.append(message[2].decode())
    return bodies
