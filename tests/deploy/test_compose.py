"""docker-compose.yml is checked here because no Docker engine runs on this machine kind."""
import json
import re
from pathlib import Path

import yaml
from jsonschema import Draft201909Validator

from services.common.config import VARIABLES

ROOT = Path(__file__).resolve().parents[2]
# The Compose specification schema, as bundled in the docker-compose 1.29.2 wheel.
SCHEMA = json.loads((ROOT / "tests" / "fixtures" / "compose-spec.schema.json").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
OUR_SERVICES = {"store", "runner", "gateway", "emulator"}


def test_the_compose_file_is_valid_against_the_compose_specification():
    errors = sorted(Draft201909Validator(SCHEMA).iter_errors(COMPOSE), key=str)
    assert not errors, "\n".join(error.message for error in errors)


def test_every_service_package_has_a_compose_service_and_back():
    packages = {path.parent.name for path in (ROOT / "services").glob("*/__main__.py")} - {"cli"}
    assert OUR_SERVICES <= set(COMPOSE["services"])
    assert packages <= set(COMPOSE["services"])


def test_every_environment_variable_of_our_services_is_a_real_config_variable():
    for name in OUR_SERVICES:
        environment = COMPOSE["services"][name].get("environment", {})
        unknown = set(environment) - set(VARIABLES)
        assert not unknown, f"{name} sets variables no service reads: {unknown}"


def test_our_services_run_as_python_modules_from_one_image():
    for name in OUR_SERVICES:
        service = COMPOSE["services"][name]
        assert service["build"] == "."
        assert service["command"][:3] == ["python", "-m", f"services.{name}"]


def test_webhook_deliveries_run_as_their_own_service():
    assert COMPOSE["services"]["webhooks"]["command"] == ["python", "-m", "services.gateway", "deliver"]


def test_the_broker_and_database_are_the_official_images():
    # Three of each: tests/deploy/test_compose_cluster.py checks the cluster and replica set.
    for name in ("rabbitmq1", "rabbitmq2", "rabbitmq3"):
        assert re.fullmatch(r"rabbitmq:4[\w.-]*-management", COMPOSE["services"][name]["image"])
    for name in ("mongo1", "mongo2", "mongo3", "mongo-init"):
        assert COMPOSE["services"][name]["image"].startswith("mongo:")
