"""The AsyncAPI 3.0 document of the events, generated from the contract (schemas.py, topology.py, events.py).

Channels: each routing key of the ``recipes`` exchange (an event type) and each queue bound to it; messages:
each event type as its CloudEvents envelope with its ``data`` schema; operations: the service that publishes
each type, and the service that consumes each queue. The gateway serves it at /asyncapi.json;
``python -m services.common.asyncapi docs/asyncapi.json`` (``make asyncapi``) writes the committed copy.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from services.common import publisher, schemas, topology
from services.common.config import VARIABLES
from services.common.events import CONTENT_TYPE, ENVELOPE_SCHEMA

VERSION = "3.0.0"
_BINDING = {"bindingVersion": "0.3.0"}
_EXCHANGE = {"name": topology.EXCHANGE, "type": "topic", "durable": True, "autoDelete": False}
_DURABLE = {"durable": True, "exclusive": False, "autoDelete": False}  # what declare_queue declares
_MODEL_EVENTS = "runner.model-events"  # the channel id of the per-process queues
_LIVE_EVENTS = "gateway.live"  # the channel id of the gateway workers' queues
_HINT_QUEUES = (_MODEL_EVENTS, _LIVE_EVENTS)  # auto-acked hints
_HEADERS = {"type": "object", "description": "AMQP application headers",
            "properties": {"traceparent": ENVELOPE_SCHEMA["properties"]["traceparent"]}}


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def _service(queue: str) -> str:
    return queue.split(".", 1)[0]  # queue_name(service, purpose)


def _message(event_type: str) -> dict[str, Any]:
    return {
        "name": event_type, "title": event_type,
        "summary": f"published by the {schemas.PRODUCERS[event_type]}",
        "description": "AMQP properties: message_id is the event id, type the event type, app_id the source, "
                       f"content_type {CONTENT_TYPE}; the routing key is the event type (docs/events.md).",
        "contentType": CONTENT_TYPE,
        "headers": _HEADERS,
        "payload": {"allOf": [_ref("components", "schemas", "CloudEvent"), {
            "properties": {"type": {"const": event_type}, "source": {"const": schemas.PRODUCERS[event_type]},
                           "data": _ref("components", "schemas", f"{event_type}.data")}}]},
        "correlationId": {"description": "the generation id (the recipe id for recipe.*, the response id for "
                                         "model.*)", "location": "$message.payload#/subject"},
        "bindings": {"amqp": {"messageType": event_type, **_BINDING}},
    }


def _channel_messages(event_types: list[str]) -> dict[str, Any]:
    return {event_type: _ref("components", "messages", event_type) for event_type in event_types}


def _routed(binding_keys: tuple[str, ...]) -> list[str]:
    return [t for t in schemas.DATA_SCHEMAS if any(topology.topic_matches(key, t) for key in binding_keys)]


def _queue_channel(address: str, routed_by: tuple[str, ...], bound: tuple[str, tuple[str, ...]], description: str,
                   **queue: Any) -> dict[str, Any]:
    """A queue: the messages ``routed_by`` these binding keys reach it; ``bound``: (exchange, keys) it is bound by."""
    exchange, keys = bound
    return {"address": address, "title": address, "description": description,
            "messages": _channel_messages(_routed(routed_by)),
            "bindings": {"amqp": {"is": "queue", "queue": {"name": address, **queue}, **_BINDING,
                                  "x-bindings": [{"exchange": exchange, "bindingKey": key} for key in keys]}}}


def _channels() -> dict[str, Any]:
    channels: dict[str, Any] = {
        event_type: {"address": event_type, "title": event_type,
                     "description": f"routing key {event_type} on the {topology.EXCHANGE} topic exchange; "
                                    "any service may bind its own queue to it",
                     "messages": _channel_messages([event_type]),
                     "bindings": {"amqp": {"is": "routingKey", "exchange": _EXCHANGE, **_BINDING}}}
        for event_type in schemas.DATA_SCHEMAS}
    delivery_limit = int(VARIABLES["DELIVERY_LIMIT"][0] or 0)
    for spec in topology.WORK_QUEUES:
        keys = ", ".join(spec.binding_keys)
        channels[spec.name] = _queue_channel(
            spec.name, spec.binding_keys, (topology.EXCHANGE, spec.binding_keys),
            f"the {_service(spec.name)}'s work queue (quorum), bound to {keys}; dead-letters to "
            f"{spec.dead_letter_queue} after DELIVERY_LIMIT redeliveries", **_DURABLE)
        channels[spec.name]["bindings"]["amqp"]["x-arguments"] = topology.queue_arguments(spec, delivery_limit)
        channels[spec.dead_letter_queue] = _queue_channel(
            spec.dead_letter_queue, spec.binding_keys, (topology.DEAD_LETTER_EXCHANGE, (spec.name,)),
            f"what {spec.name} dead-lettered, with x-death and {topology.REJECTION_REASON_HEADER} headers "
            f"(`python -m services.cli dead-letters list|replay {spec.name}`)", **_DURABLE)
    flags = topology.HINT_QUEUE_FLAGS
    hint_queues = (
        (_MODEL_EVENTS, topology.model_events_queue_name("{instance}"), topology.MODEL_EVENTS_BINDING,
         "one per runner process, bound to {binding}: every runner sees every hint", "the runner process's own id"),
        (_LIVE_EVENTS, topology.live_events_queue_name("{instance}"), topology.LIVE_EVENTS_BINDING,
         "one per gateway worker, bound to {binding}: wakes its open event streams", "the gateway worker's own id"),
    )
    for channel_id, queue, binding, description, instance in hint_queues:
        channels[channel_id] = _queue_channel(
            queue, (binding,), (topology.EXCHANGE, (binding,)), description.format(binding=binding),
            durable=flags["durable"], exclusive=flags["exclusive"], autoDelete=flags["auto_delete"])
        channels[channel_id]["parameters"] = {"instance": {"description": instance}}
    return channels


def _operations(channels: dict[str, Any]) -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for event_type, service in schemas.PRODUCERS.items():
        operations[f"{service}.send.{event_type}"] = {
            "action": "send", "channel": _ref("channels", event_type), "title": f"{service} publishes {event_type}",
            "description": "published with a publisher confirm; an event no queue is bound for comes back "
                           "(mandatory) and fails the publish, except a broadcast (recipe.*, events.*, model.*)",
            "tags": [{"name": service}],
            "messages": [_ref("channels", event_type, "messages", event_type)],
            "bindings": {"amqp": {"deliveryMode": publisher.DELIVERY_MODE.value, "mandatory": publisher.MANDATORY,
                                  **_BINDING}}}
    for channel_id in [spec.name for spec in topology.WORK_QUEUES] + list(_HINT_QUEUES):
        service, auto_ack = _service(channel_id), channel_id in _HINT_QUEUES  # hints are auto-acked
        operations[f"{service}.receive.{channel_id}"] = {
            "action": "receive", "channel": _ref("channels", channel_id), "title": f"{service} consumes {channel_id}",
            "description": "at least once: a redelivered event id is dropped; an event that does not validate "
                           "is dead-lettered with the reason" if not auto_ack else "a hint, auto-acked",
            "tags": [{"name": service}],
            "messages": [_ref("channels", channel_id, "messages", t) for t in channels[channel_id]["messages"]],
            "bindings": {"amqp": {"ack": not auto_ack, **_BINDING}}}
    return operations


def document() -> dict[str, Any]:
    """The whole AsyncAPI document (plain data, the same on every call)."""
    channels = _channels()
    return {
        "asyncapi": VERSION,
        "id": "urn:recipe-pipeline:events",
        "info": {"title": "Recipe generation events", "version": "1.0.0",
                 "description": "CloudEvents 1.0 in JSON structured mode on RabbitMQ; docs/events.md explains "
                                "every type and its event id. Delivery is at least once: drop an id already seen.",
                 "tags": [{"name": name, "description": f"the {name} service"}
                          for name in sorted(set(schemas.PRODUCERS.values()))]},
        "defaultContentType": CONTENT_TYPE,
        "servers": {"rabbitmq": {"host": "localhost:5672", "protocol": "amqp", "protocolVersion": "0-9-1",
                                 "description": "the broker RABBITMQ_URL names (its vhost is the path)"}},
        "channels": channels,
        "operations": _operations(channels),
        "components": {
            "schemas": {"CloudEvent": ENVELOPE_SCHEMA,
                        **{f"{event_type}.data": schema for event_type, schema in schemas.DATA_SCHEMAS.items()}},
            "messages": {event_type: _message(event_type) for event_type in schemas.DATA_SCHEMAS},
        },
    }


def render() -> str:
    """The document as the committed docs/asyncapi.json is written."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if argv:
        Path(argv[0]).write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
