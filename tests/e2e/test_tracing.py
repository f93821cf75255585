"""One generation is one trace: the real processes export over OTLP/HTTP (the standard OTEL_*
variables only) and the spans of the gateway, the runner and the store share the caller's trace id."""
from __future__ import annotations

from collections import Counter

import pytest
import requests

from tests.support.otlp import OtlpReceiver, Span
from tests.support.system import System
from tests.support.waiting import wait_for

TRACE_ID, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
CALLER = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


@pytest.fixture
def otlp():
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(params=["responses", "assistants"])
def traced(request, service_env, start_service, otlp) -> System:
    env = {**service_env, "MODEL_BACKEND": request.param,
           "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    system = System(env=env, start_service=start_service)
    for name in ("emulator", "store", "runner", "gateway"):
        system.start(name)
    return system


def _summary(spans: list[Span]) -> str:
    return "\n".join(f"{s.service} {s.kind} {s.name} {s.span_id}<-{s.parent_id} {s.attributes}" for s in spans)


def _published(spans: list[Span], service: str, event_type: str) -> list[Span]:
    return [s for s in spans if s.service == service and s.kind == "PRODUCER"
            and s.attributes.get("messaging.rabbitmq.destination.routing_key") == event_type]


def _whole(spans: list[Span]) -> bool:
    ids = {s.span_id for s in spans} | {CALLER_SPAN}
    return bool(_published(spans, "store", "recipe.completed")) and all(s.parent_id in ids for s in spans)


def test_one_generation_is_one_trace_across_gateway_runner_and_store(traced: System, otlp: OtlpReceiver, mongo_db):
    response = requests.post(f"{traced.gateway_url}/v1/generations", json={"prompt": "A quick tomato soup"},
                             headers={"traceparent": CALLER}, timeout=30)
    assert response.status_code == 202, response.text
    assert response.headers["traceparent"].split("-")[1] == TRACE_ID
    generation_id = response.json()["id"]
    wait_for(lambda: mongo_db.generations.count_documents({"_id": generation_id, "status": "completed"}) == 1,
             timeout=60, message="the generation completed")
    # Every span's parent in the trace (or the caller's), down to the store's last publish.
    wait_for(lambda: _whole(otlp.trace(TRACE_ID)), timeout=30, message="the whole trace exported")
    spans = otlp.trace(TRACE_ID)
    detail = _summary(spans)

    assert {s.service for s in spans} == {"gateway", "runner", "store"}, detail
    [request] = [s for s in spans if s.kind == "SERVER"]
    assert (request.service, request.parent_id, request.name) == ("gateway", CALLER_SPAN, "POST /v1/generations")

    [requested] = _published(spans, "gateway", "generation.requested")
    assert requested.parent_id == request.span_id
    assert requested.attributes["messaging.system"] == "rabbitmq"
    assert requested.attributes["messaging.destination.name"] == "recipes"
    assert requested.attributes["messaging.operation.type"] == "send"
    assert requested.attributes["messaging.message.id"]
    [consumed] = [s for s in spans if s.kind == "CONSUMER" and s.service == "runner"]
    assert consumed.parent_id == requested.span_id
    assert consumed.attributes["messaging.destination.subscription.name"] == "runner.generations"
    assert consumed.attributes["messaging.message.id"] == requested.attributes["messaging.message.id"]

    # The store consumed every event the runner published (and the request), each from its publish span.
    runner_publishes = {s.span_id for s in spans if s.service == "runner" and s.kind == "PRODUCER"}
    store_consumes = {s.parent_id for s in spans if s.service == "store" and s.kind == "CONSUMER"}
    assert store_consumes == runner_publishes | {requested.span_id}, detail
    assert _published(spans, "runner", "generation.completed")

    clients = Counter((s.service, "mongodb" if "db.system" in s.attributes or "db.system.name" in s.attributes
                       else "http") for s in spans if s.kind == "CLIENT")
    assert clients[("runner", "http")] >= 2, detail  # the model API: at least a turn and its answer
    for service in ("gateway", "runner", "store"):
        assert clients[(service, "mongodb")] >= 1, detail
