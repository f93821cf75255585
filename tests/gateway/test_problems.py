"""Every error is RFC 9457 problem details; optional API keys guard /v1/*."""
from __future__ import annotations

import subprocess
import sys

from tests.gateway.client import assert_problem
from tests.support.processes import ROOT


def test_malformed_json_is_a_400_problem(gateway):
    response = gateway.post("/v1/generations", data=b"{not json", headers={"Content-Type": "application/json"})
    assert_problem(response, 400)


def test_an_unknown_field_is_a_400_problem_naming_it(gateway):
    problem = assert_problem(gateway.post_generation({"prompt": "Soup", "temperature": 2}), 400)
    assert "temperature" in problem["detail"]


def test_a_wrong_type_or_an_empty_prompt_is_a_400_problem(gateway):
    assert_problem(gateway.post_generation({"prompt": 42}), 400)
    problem = assert_problem(gateway.post_generation({"prompt": ""}), 400)
    assert problem["errors"][0]["field"] == "prompt"


def test_a_prompt_longer_than_the_event_contract_allows_is_a_400_problem(gateway):
    assert_problem(gateway.post_generation({"prompt": "x" * 20001}), 400)


def test_a_body_that_is_not_json_is_a_415_problem(gateway):
    response = gateway.post("/v1/generations", data="prompt=soup",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(response, 415)


def test_a_body_over_the_size_limit_is_a_413_problem(gateway):
    response = gateway.post("/v1/generations", data=b'{"prompt": "' + b"x" * 300_000 + b'"}',
                            headers={"Content-Type": "application/json"})
    assert_problem(response, 413)


def test_an_unknown_path_is_a_404_problem(gateway):
    problem = assert_problem(gateway.get("/v1/nothing-here"), 404)
    assert problem["instance"] == "/v1/nothing-here"


def test_a_wrong_method_is_a_405_problem_with_allow(gateway):
    response = gateway.delete("/v1/recipes")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_with_api_keys_a_request_without_a_valid_key_is_a_401_problem(launch_gateway):
    gateway = launch_gateway(GATEWAY_API_KEYS="key-one,key-two")
    response = gateway.post_generation({"prompt": "Soup"})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = gateway.get("/v1/recipes", headers={"Authorization": "Bearer key-three"})
    assert_problem(wrong, 401)


def test_with_api_keys_a_valid_key_is_let_in_and_probes_stay_open(launch_gateway):
    gateway = launch_gateway(api_key="key-two", GATEWAY_API_KEYS="key-one,key-two")
    assert gateway.get("/v1/recipes").status_code == 200
    assert gateway.session.get(gateway.url("/healthz"), headers={"Authorization": ""}).status_code == 200


def test_a_bad_configuration_exits_2_with_a_message_naming_the_variable(gateway_env):
    env = {**gateway_env, "GATEWAY_WORKERS": "many", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "services.gateway"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "GATEWAY_WORKERS" in result.stderr
