"""Hostile input against the real running gateway (issue 14): each attack is refused, and the system still serves."""
from __future__ import annotations

import json
import time

import pytest

from services.common import topology
from services.common.events import decode
from services.common.schemas import MODEL_RESPONSE_FINISHED
from services.emulator.webhooks import event_payload, signed_headers
from tests.gateway.client import GatewayClient, assert_problem
from tests.gateway.conftest import gateway, gateway_env, launch_gateway  # noqa: F401 - the real gateway, as there
from tests.support.broker import bind_outside_queue, get_all

JSON = {"Content-Type": "application/json"}
DEEP = b"[" * 20_000 + b"]" * 20_000
SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cy0xMjM0NTY3ODkwYWJj"


def still_serves(gateway: GatewayClient) -> None:
    """A plain request after the attack is accepted (202: the broker confirmed it) and the gateway is ready."""
    response = gateway.post_generation()
    assert response.status_code == 202, response.text
    assert gateway.get("/readyz").status_code == 200


def test_six_prompts_with_a_lone_surrogate_are_400_and_intake_stays_up(gateway):
    for _ in range(6):  # issue 14: these killed the publisher's I/O thread, then every request was a 503
        response = gateway.post("/v1/generations", data=b'{"prompt": "x\\ud800 soup"}', headers=JSON)
        assert "lone surrogate" in assert_problem(response, 400)["detail"]
    still_serves(gateway)


@pytest.mark.parametrize("body", [b'{"prompt": ' + DEEP + b"}", DEEP, b'{"prompt": "soup", "model": ' + DEEP + b"}"])
def test_a_body_nested_twenty_thousand_deep_is_a_400_not_a_500(gateway, body):
    assert "deeper than 64" in assert_problem(gateway.post("/v1/generations", data=body, headers=JSON), 400)["detail"]
    still_serves(gateway)


def test_a_subscription_url_with_a_lone_surrogate_is_a_400_not_a_500(gateway):
    response = gateway.post("/v1/subscriptions", headers=JSON,
                            data=b'{"url": "http://127.0.0.1:9/\\ud800", "event_types": ["recipe.*"]}')
    assert_problem(response, 400)
    assert gateway.subscribe("http://127.0.0.1:9/hook")["id"]
    still_serves(gateway)


def test_a_query_string_with_an_encoded_surrogate_is_a_400(gateway):
    assert_problem(gateway.get("/v1/recipes?ingredient=%ED%A0%80"), 400)
    assert_problem(gateway.get("/v1/recipes?q=%FF"), 400)
    assert gateway.get("/v1/recipes?ingredient=tomato").status_code == 200
    still_serves(gateway)


def test_an_oversized_chunked_body_is_a_413(launch_gateway):
    gateway = launch_gateway(GATEWAY_MAX_BODY_BYTES="2048")
    body = b'{"prompt": "' + b"x" * 100_000 + b'"}'
    chunks = (body[i:i + 4096] for i in range(0, len(body), 4096))
    assert_problem(gateway.post("/v1/generations", data=chunks, headers=JSON), 413)
    still_serves(gateway)


@pytest.mark.parametrize("data", [{"id": DEEP.decode()}, {"id": "resp_\ud800"}])
def test_a_signed_openai_webhook_too_deep_or_with_a_surrogate_is_a_400(launch_gateway, rabbitmq_url, data):
    bind_outside_queue(rabbitmq_url, "test.model-events", topology.MODEL_EVENTS_BINDING)
    gateway = launch_gateway(OPENAI_WEBHOOK_SECRET=SECRET)

    def post(payload_data: object) -> object:
        payload = {**event_payload("response.completed", "resp_ok"), "data": payload_data}
        body = json.dumps(payload).replace('"' + DEEP.decode() + '"', DEEP.decode())  # the nesting as JSON, not text
        headers = signed_headers(SECRET, payload["id"], int(time.time()), body)
        return gateway.session.post(gateway.url("/v1/openai/webhooks"), data=body.encode(), headers=headers, timeout=10)

    assert "refused" in assert_problem(post(data), 400)["detail"]
    assert post({"id": "resp_ok"}).status_code == 200
    assert [decode(body).type for _p, body in get_all(rabbitmq_url, "test.model-events")] == [MODEL_RESPONSE_FINISHED]
    still_serves(gateway)
