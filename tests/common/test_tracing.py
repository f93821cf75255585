"""Tracing is off unless the standard OTEL_* variables turn it on; a bad value stops a service at start-up."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from opentelemetry.semconv._incubating.attributes import cloudevents_attributes as cloudevents
from opentelemetry.semconv._incubating.attributes import messaging_attributes as messaging

from services.common import tracing
from services.common.config import ConfigError
from tests.support.processes import ROOT


@pytest.mark.parametrize("environ, expected", [
    ({}, []),
    ({"OTEL_TRACES_EXPORTER": "none"}, []),
    ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
    ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp_proto_http", "console"]),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ["otlp_proto_http"]),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, ["otlp_proto_http"]),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, []),
])
def test_the_environment_chooses_the_exporters(environ, expected):
    assert tracing.exporters(environ) == expected


@pytest.mark.parametrize("environ, variable", [
    ({"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER"),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_TRACES_EXPORTER"),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
])
def test_an_exporter_that_is_not_installed_is_a_configuration_error_naming_the_variable(environ, variable):
    with pytest.raises(ConfigError, match=variable):
        tracing.exporters(environ)


def test_the_span_attributes_are_the_semantic_conventions_names():
    assert (tracing.SYSTEM, tracing.OPERATION_TYPE, tracing.OPERATION_NAME) == (
        messaging.MESSAGING_SYSTEM, messaging.MESSAGING_OPERATION_TYPE, messaging.MESSAGING_OPERATION_NAME)
    assert (tracing.DESTINATION, tracing.SUBSCRIPTION, tracing.ROUTING_KEY, tracing.MESSAGE_ID) == (
        messaging.MESSAGING_DESTINATION_NAME, messaging.MESSAGING_DESTINATION_SUBSCRIPTION_NAME,
        messaging.MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY, messaging.MESSAGING_MESSAGE_ID)
    assert (tracing.BODY_SIZE, tracing.BATCH_COUNT) == (messaging.MESSAGING_MESSAGE_BODY_SIZE,
                                                        messaging.MESSAGING_BATCH_MESSAGE_COUNT)
    assert (tracing.EVENT_TYPE, tracing.EVENT_SUBJECT) == (cloudevents.CLOUDEVENTS_EVENT_TYPE,
                                                           cloudevents.CLOUDEVENTS_EVENT_SUBJECT)


def _clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, **extra}


def test_off_no_opentelemetry_package_is_imported_at_all():
    script = ("import sys\n"
              "from services.common import consumer, publisher, tracing\n"
              "from services.runner import bootstrap\n"
              "from services.gateway import app\n"
              "assert tracing.configure('test') is False\n"
              "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_clean_env(), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_service_with_a_bad_otel_value_stops_at_start_up_naming_it():
    env = _clean_env(OTEL_TRACES_EXPORTER="zipkin", MONGO_URI="mongodb://127.0.0.1:9/none")
    out = subprocess.run([sys.executable, "-m", "services.store"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert "configuration error: OTEL_TRACES_EXPORTER" in out.stderr
