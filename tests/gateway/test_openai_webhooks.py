"""POST /v1/openai/webhooks: signed OpenAI webhooks become model.response_finished events; nothing else does."""
from __future__ import annotations

import json
import time
import uuid

from services.common import schemas, topology
from services.common.events import decode, derived_event_id
from services.emulator.webhooks import event_payload, signed_headers
from tests.gateway.client import assert_problem
from tests.support.broker import bind_outside_queue, get_all
from tests.support.events_doc import documented_id

SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cy0xMjM0NTY3ODkwYWJj"  # base64 of a test key
PATH = "/v1/openai/webhooks"
QUEUE = "test.model-events"


def _post(gateway, kind: str = "response.completed", *, secret: str = SECRET, age: int = 0,
          webhook_id: str | None = None, drop: str | None = None, response_id: str = "resp_abc"):
    payload = event_payload(kind, response_id)
    body = json.dumps(payload)
    headers = signed_headers(secret, webhook_id or payload["id"], int(time.time()) - age, body)
    if drop:
        del headers[drop]
    return gateway.session.post(gateway.url(PATH), data=body.encode(), headers=headers, timeout=10)


def test_signed_terminal_webhooks_are_published_once_per_webhook_id_without_an_api_key(
        launch_gateway, rabbitmq_url):
    bind_outside_queue(rabbitmq_url, QUEUE, topology.MODEL_EVENTS_BINDING)  # stands in for a runner's
    gateway = launch_gateway(OPENAI_WEBHOOK_SECRET=SECRET, GATEWAY_API_KEYS="k1")  # sent no bearer token
    webhook_id = f"evt_{uuid.uuid4().hex}"
    for _ in range(2):  # OpenAI redelivers with the same webhook-id: the same event id, a duplicate
        answer = _post(gateway, webhook_id=webhook_id)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "published"
    for kind in schemas.OPENAI_RESPONSE_WEBHOOK_TYPES[1:]:
        assert _post(gateway, kind, response_id=f"resp_{kind}").status_code == 200
    ignored = _post(gateway, "batch.completed")
    assert ignored.status_code == 200 and ignored.json() == {"status": "ignored", "event_id": None}

    events = [decode(body) for _props, body in get_all(rabbitmq_url, QUEUE)]
    assert [e.type for e in events] == [schemas.MODEL_RESPONSE_FINISHED] * 5
    assert events[0].id == events[1].id == derived_event_id("openai-webhook", webhook_id)
    assert all(e.id == documented_id(e) for e in events)  # the rule in docs/events.md
    assert events[0].data["response_id"] == "resp_abc" and events[0].data["webhook_id"] == webhook_id
    assert sorted(e.data["webhook_type"] for e in events[1:]) == sorted(
        ["response.completed", *schemas.OPENAI_RESPONSE_WEBHOOK_TYPES[1:]])
    assert gateway.get("/v1/recipes").status_code == 401  # the rest of /v1 still wants a key


def test_forged_stale_or_unsigned_webhooks_are_refused_and_publish_nothing(launch_gateway, rabbitmq_url):
    bind_outside_queue(rabbitmq_url, QUEUE, topology.MODEL_EVENTS_BINDING)  # stands in for a runner's
    gateway = launch_gateway(OPENAI_WEBHOOK_SECRET=SECRET)
    forged = _post(gateway, secret="whsec_" + "Zm9yZ2VkLXNlY3JldC0xMjM0NTY3ODkwYWJjZGVm")
    assert "signature" in assert_problem(forged, 400)["detail"]
    assert "too old" in assert_problem(_post(gateway, age=301), 400)["detail"]  # a replayed capture
    assert_problem(_post(gateway, age=-400), 400)  # from the future
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert_problem(_post(gateway, drop=header), 400)
    tampered = json.dumps(event_payload("response.completed", "resp_x"))
    headers = signed_headers(SECRET, "evt_1", int(time.time()), tampered)
    other = tampered.replace("resp_x", "resp_y").encode()
    assert_problem(gateway.session.post(gateway.url(PATH), data=other, headers=headers, timeout=10), 400)
    assert get_all(rabbitmq_url, QUEUE) == []


def test_without_a_secret_the_ingress_says_it_is_not_configured(gateway):
    problem = assert_problem(_post(gateway), 404)
    assert "OPENAI_WEBHOOK_SECRET" in problem["detail"]
