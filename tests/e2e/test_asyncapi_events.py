"""Every event real runs publish is as the gateway's /asyncapi.json says: it validates against its message
(CloudEvents envelope, data, headers), and carries the AMQP properties its message and its send operation name.

An outside queue bound to "#" sees everything on the exchange. The runs cover every event type: a clean
generation, one whose tool calls are first refused (wrong_types), one whose model run fails (run_fail), and,
with the background Responses backend woken by OpenAI webhooks, model.response_finished.
"""
from __future__ import annotations

import json
from typing import Any

import pika
import pytest
import requests

from services.common import schemas
from tests.runner.helpers import SEED_INSTRUCTIONS, SEED_PROMPT
from tests.support.asyncapi import headers_errors, payload_errors, send_operations
from tests.support.broker import bind_outside_queue, get_all
from tests.support.system import System
from tests.support.waiting import wait_for

EVERYTHING = "outside.everything"
SECRET = "whsec_" + "YXN5bmNhcGktd2ViaG9vay1zZWNyZXQtMTIzNDU2"


def _message_problems(document: dict[str, Any], properties: pika.BasicProperties, body: bytes) -> list[str]:
    event = json.loads(body)
    problems = payload_errors(document, event)
    if problems:
        return problems
    message = document["components"]["messages"][event["type"]]
    (operation,) = send_operations(document, event["type"])
    expected = {"content_type": message["contentType"], "message_id": event["id"],
                "type": message["bindings"]["amqp"]["messageType"], "app_id": operation["tags"][0]["name"],
                "delivery_mode": operation["bindings"]["amqp"]["deliveryMode"]}
    problems = [f"{name}: {getattr(properties, name)!r} != {value!r}" for name, value in expected.items()
                if getattr(properties, name) != value]
    headers = properties.headers or {}
    problems += headers_errors(document, event["type"], headers)
    if headers.get("traceparent") != event.get("traceparent"):
        problems.append(f"traceparent header {headers.get('traceparent')!r} != the event's")
    return [f"{event['type']} {event['id']}: {problem}" for problem in problems]


def _generate(system: System, seen: dict[str, tuple], rabbitmq_url: str, faults: str = "") -> str:
    """One seed generation with the emulator's ``faults``; returns once its last event is on the exchange."""
    requests.put(f"{system.emulator_url}/_emulator/config", json={"faults": faults}, timeout=10).raise_for_status()
    answer = requests.post(f"{system.gateway_url}/v1/generations", timeout=30,
                           json={"prompt": SEED_PROMPT, "instructions": SEED_INSTRUCTIONS})
    assert answer.status_code == 202, answer.text
    gid = answer.json()["id"]

    def types() -> set[str]:
        seen.update({p.message_id: (p, b) for p, b in get_all(rabbitmq_url, EVERYTHING)})
        return {json.loads(b)["type"] for _p, b in seen.values() if json.loads(b)["data"].get("generation_id") == gid}

    wait_for(lambda: schemas.GENERATION_FAILED in types() or schemas.RECIPE_COMPLETED in types(), timeout=120,
             interval=0.2, message=f"the last event of generation {gid} ({faults or 'no faults'})")
    return gid


def _check_all(system: System, seen: dict[str, tuple]) -> set[str]:
    document = requests.get(f"{system.gateway_url}/asyncapi.json", timeout=10).json()
    problems = [problem for properties, body in seen.values()
                for problem in _message_problems(document, properties, body)]
    assert problems == []
    return {json.loads(body)["type"] for _p, body in seen.values()}


def test_every_event_of_clean_refused_and_failed_runs_is_as_documented(system, rabbitmq_url):
    bind_outside_queue(rabbitmq_url, EVERYTHING, "#")
    seen: dict[str, tuple] = {}
    for faults in ("", "wrong_types=1", "run_fail=1"):
        _generate(system, seen, rabbitmq_url, faults)
    # Not made by a generation: model.* (tested below) and the deliverer's subscription.disabled
    # (validated against the document in tests/gateway/test_webhook_disable.py).
    assert _check_all(system, seen) == set(schemas.DATA_SCHEMAS) - {schemas.MODEL_RESPONSE_FINISHED,
                                                                   schemas.SUBSCRIPTION_DISABLED}


@pytest.mark.parametrize("background", [False, True], ids=["responses-streamed", "responses-background-webhooks"])
def test_every_event_of_the_responses_backend_is_as_documented(service_env, start_service, rabbitmq_url, background):
    env = {**service_env, "MODEL_BACKEND": "responses", "RUNNER_RESPONSES_BACKGROUND": str(background).lower(),
           "OPENAI_WEBHOOK_SECRET": SECRET}
    system = System(env=env, start_service=start_service)
    if background:
        system.emulator_args = ("--webhook-url", f"{system.gateway_url}/v1/openai/webhooks", "--webhook-secret", SECRET)
    system.start_all()
    bind_outside_queue(rabbitmq_url, EVERYTHING, "#")
    seen: dict[str, tuple] = {}
    _generate(system, seen, rabbitmq_url)  # in the background, each turn's webhook came before the next turn
    published = _check_all(system, seen)
    assert schemas.GENERATION_STARTED in published
    assert (schemas.MODEL_RESPONSE_FINISHED in published) is background
