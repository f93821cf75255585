"""/healthz, /readyz, /metrics (summed over gunicorn workers), /openapi.json and /asyncapi.json."""
from __future__ import annotations

from services.common import asyncapi
from tests.gateway.client import GatewayClient, assert_problem
from tests.support.waiting import wait_for


def test_healthz_says_the_process_is_alive(gateway):
    assert gateway.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_broker_and_mongodb(gateway):
    ready = gateway.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"broker": True, "mongodb": True, "sse_watcher": True}


def test_readyz_is_a_503_problem_when_mongodb_is_unreachable(launch_gateway):
    gateway = launch_gateway(MONGO_URI="mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=500")
    problem = assert_problem(gateway.get("/readyz", timeout=30), 503)
    assert problem["checks"] == {"broker": True, "mongodb": False, "sse_watcher": True}


def test_metrics_count_requests_of_every_worker(gateway):
    for _ in range(10):
        assert gateway.get("/healthz").status_code == 200
    text = gateway.get("/metrics").text
    counted = [line for line in text.splitlines()
               if line.startswith("gateway_http_requests_total{") and 'route="/healthz"' in line]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in counted) >= 10


def test_openapi_describes_every_route(gateway):
    spec = gateway.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert {"/v1/generations", "/v1/generations/{generation_id}", "/v1/generations/{generation_id}/events",
            "/v1/recipes", "/v1/recipes/{recipe_id}", "/v1/subscriptions", "/v1/subscriptions/{subscription_id}",
            "/v1/subscriptions/{subscription_id}/deliveries",
            "/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}/retry",
            "/v1/subscriptions/{subscription_id}/enable",
            "/v1/subscriptions/{subscription_id}/replay", "/v1/subscriptions/{subscription_id}/rotate-secret",
            "/v1/openai/webhooks", "/healthz", "/readyz", "/metrics", "/asyncapi.json"} == set(spec["paths"])


def test_asyncapi_json_is_the_document_of_the_events_open_with_api_keys_on(launch_gateway):
    gateway = launch_gateway(GATEWAY_API_KEYS="some-key")  # the client sends no key
    answer = gateway.get("/asyncapi.json")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert answer.json() == asyncapi.document()


def test_sigterm_stops_the_gateway_and_the_deliverer_cleanly(start_service, gateway_env):
    server = start_service("services.gateway", gateway_env, name="gateway")
    deliverer = start_service("services.gateway", gateway_env, "deliver", name="deliverer")
    client = GatewayClient(f"http://{gateway_env['GATEWAY_BIND']}")
    try:
        wait_for(lambda: client.is_up() or not server.running, timeout=30, message="gateway up")
        assert client.post_generation().status_code == 202  # a worker with an open broker connection
    finally:
        client.close()
    wait_for(lambda: "consuming" in deliverer.log(), timeout=30, message="deliverer consuming")
    assert server.terminate(timeout=30) == 0
    assert deliverer.terminate(timeout=40) == 0
