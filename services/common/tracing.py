"""OpenTelemetry traces, off unless the standard ``OTEL_*`` variables turn them on (docs/operations.md).

One generation is one trace: the gateway's HTTP request (Flask), every publish (a PRODUCER span per
event, whose context becomes the event's ``traceparent``) and every consume (a CONSUMER span per
delivery, continued from the message's ``traceparent``), the model API requests (httpx2, which the
openai SDK uses) and MongoDB commands. Message spans follow the OpenTelemetry messaging conventions
for RabbitMQ (the attribute names of opentelemetry-semantic-conventions 0.66b1, checked in
tests/common/test_tracing.py).

Off (nothing set, ``OTEL_TRACES_EXPORTER=none`` or ``OTEL_SDK_DISABLED=true``), no OpenTelemetry
package is even imported: ``publishing`` and ``consuming`` hand back a ``nullcontext``.
On, the SDK reads its own variables: ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``, ``OTEL_EXPORTER_OTLP_*``.
"""
from __future__ import annotations

import logging
import os
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from services.common import topology
from services.common.config import ConfigError

if TYPE_CHECKING:
    from flask import Flask
    from opentelemetry.trace import Span, Tracer

    from services.common.consumer import Delivery
    from services.common.events import CloudEvent

log = logging.getLogger(__name__)

EXPORTER_GROUP = "opentelemetry_traces_exporter"  # the entry points the SDK's exporters register
# OTLP exporters by protocol; only OTLP over HTTP (protobuf) is installed (pyproject.toml).
_OTLP = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}
# Probes answer many times a minute: not worth a trace each (OTEL_PYTHON_FLASK_EXCLUDED_URLS overrides).
FLASK_EXCLUDED_URLS = "/healthz$,/readyz$,/metrics$"

# Messaging and CloudEvents attribute names (OpenTelemetry semantic conventions).
SYSTEM, OPERATION_TYPE, OPERATION_NAME = "messaging.system", "messaging.operation.type", "messaging.operation.name"
DESTINATION, SUBSCRIPTION = "messaging.destination.name", "messaging.destination.subscription.name"
ROUTING_KEY, MESSAGE_ID = "messaging.rabbitmq.destination.routing_key", "messaging.message.id"
BODY_SIZE, BATCH_COUNT = "messaging.message.body.size", "messaging.batch.message_count"
EVENT_TYPE, EVENT_SUBJECT = "cloudevents.event_type", "cloudevents.event_subject"


def exporters(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The span exporters' entry-point names the environment asks for; [] is off.

    ``OTEL_TRACES_EXPORTER`` names them (comma-separated: ``otlp``, ``console``); unset, an
    ``OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT`` alone means ``otlp``. ``otlp`` is OTLP over HTTP (the
    specification's default protocol) unless ``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`` says otherwise.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    raw = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not raw:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        raw = "otlp" if endpoint else "none"
    names = [name.strip() for name in raw.split(",") if name.strip() and name.strip() != "none"]
    protocol = (environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf").strip()
    if "otlp" in names and protocol not in _OTLP:
        raise ConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not one of {', '.join(_OTLP)}")
    names = [_OTLP[protocol] if name == "otlp" else name for name in names]
    installed = {point.name for point in entry_points(group=EXPORTER_GROUP)}
    for name in names:
        if name not in installed:
            raise ConfigError(f"OTEL_TRACES_EXPORTER: no span exporter {name!r} is installed "
                              f"(installed: {', '.join(sorted(installed))})")
    return names


class _Tracing:
    """What tracing needs once it is on: our tracer and the W3C propagator of the events' ``traceparent``."""

    def __init__(self, tracer: Tracer) -> None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        self.tracer = tracer
        self.w3c = TraceContextTextMapPropagator()

    def parent(self, traceparent: str | None) -> Any:
        """The current context when it is in the event's trace (or the event has none), else the event's."""
        from opentelemetry import trace
        if not traceparent:
            return None
        carried = self.w3c.extract({"traceparent": traceparent})
        event_trace = trace.get_current_span(carried).get_span_context()
        current = trace.get_current_span().get_span_context()
        if not event_trace.is_valid or (current.is_valid and current.trace_id == event_trace.trace_id):
            return None
        return carried

    @contextmanager
    def publishing(self, events: Sequence[CloudEvent]) -> Iterator[Sequence[CloudEvent]]:
        from opentelemetry import trace
        spans, traced = [], []
        for event in events:
            span = self.tracer.start_span(
                f"publish {topology.EXCHANGE}", context=self.parent(event.traceparent), kind=trace.SpanKind.PRODUCER,
                attributes={SYSTEM: "rabbitmq", OPERATION_TYPE: "send", OPERATION_NAME: "publish",
                            DESTINATION: topology.EXCHANGE, ROUTING_KEY: event.routing_key, MESSAGE_ID: event.id,
                            EVENT_TYPE: event.type, **({EVENT_SUBJECT: event.subject} if event.subject else {})})
            carrier: dict[str, str] = {}
            self.w3c.inject(carrier, context=trace.set_span_in_context(span))
            spans.append(span)
            traced.append(replace(event, traceparent=carrier.get("traceparent", event.traceparent)))
        with _ending(spans):
            yield traced

    @contextmanager
    def consuming(self, queue: str, deliveries: Sequence[Delivery]) -> Iterator[None]:
        from opentelemetry import trace
        spans = []
        for delivery in deliveries:
            headers = {key: value.decode() if isinstance(value, bytes) else str(value)
                       for key, value in (delivery.properties.headers or {}).items() if key == "traceparent"}
            attributes = {SYSTEM: "rabbitmq", OPERATION_TYPE: "process", OPERATION_NAME: "process",
                          DESTINATION: topology.EXCHANGE, SUBSCRIPTION: queue, ROUTING_KEY: delivery.routing_key,
                          MESSAGE_ID: delivery.message_id or "", BODY_SIZE: len(delivery.body),
                          EVENT_TYPE: delivery.properties.type or ""}
            if len(deliveries) > 1:
                attributes[BATCH_COUNT] = len(deliveries)
            spans.append(self.tracer.start_span(f"process {queue}", context=self.w3c.extract(headers),
                                                kind=trace.SpanKind.CONSUMER, attributes=attributes))
        # The handler's own spans (MongoDB, the model API, its publishes) go under the first message's.
        if not spans:
            yield
            return
        with _ending(spans), trace.use_span(spans[0], end_on_exit=False, record_exception=False,
                                            set_status_on_exception=False):  # _ending does both, for every span
            yield


@contextmanager
def _ending(spans: Sequence[Span]) -> Iterator[None]:
    """End every span on the way out; an exception marks each of them failed."""
    from opentelemetry.trace import Status, StatusCode
    try:
        yield
    except BaseException as error:
        for span in spans:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            span.set_attribute("error.type", type(error).__qualname__)
        raise
    finally:
        for span in spans:
            span.end()


_active: _Tracing | None = None


def configure(service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Turn tracing on in this process when the environment asks (``exporters``); True if it did.

    Call it before any MongoDB client is created (pymongo's command listeners are taken at creation)
    and, in a forking server, in each worker (the span exporter's thread does not survive a fork).
    ``service`` is the ``service.name`` unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES set one.
    """
    global _active
    names = exporters(environ)
    if not names or _active is not None:
        return _active is not None
    from opentelemetry import trace
    from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    provider = TracerProvider(resource=resource)
    for point in entry_points(group=EXPORTER_GROUP):
        if point.name in names:
            provider.add_span_processor(BatchSpanProcessor(point.load()()))
    trace.set_tracer_provider(provider)
    # Client spans only inside a trace: the gateway's stream poll, the webhook scheduler and the
    # runner's probes would otherwise start a trace of their own several times a second.
    PymongoInstrumentor().instrument(tracer_provider=_in_trace_only(provider))
    HTTPX2ClientInstrumentor().instrument(tracer_provider=_in_trace_only(provider))
    _active = _Tracing(provider.get_tracer(__name__))
    log.info("tracing on", extra={"exporters": names, "service_name": resource.attributes.get(SERVICE_NAME)})
    return True


def _in_trace_only(provider: Any) -> Any:
    """A provider whose tracers start spans only where a span is current (else a non-recording one)."""
    from opentelemetry import trace

    class InTraceOnlyTracer(trace.Tracer):
        def __init__(self, tracer: trace.Tracer) -> None:
            self._tracer, self._noop = tracer, trace.NoOpTracer()

        def _pick(self, context: Any) -> trace.Tracer:
            return self._tracer if trace.get_current_span(context).get_span_context().is_valid else self._noop

        def start_span(self, name: str, context: Any = None, *args: Any, **kwargs: Any) -> trace.Span:
            return self._pick(context).start_span(name, context, *args, **kwargs)

        def start_as_current_span(self, name: str, context: Any = None, *args: Any, **kwargs: Any) -> Any:
            return self._pick(context).start_as_current_span(name, context, *args, **kwargs)

    class InTraceOnly(trace.TracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
            return InTraceOnlyTracer(provider.get_tracer(*args, **kwargs))

    return InTraceOnly()


def instrument_flask(app: Flask) -> None:
    """A SERVER span per request, continuing a caller's ``traceparent`` (no-op when tracing is off)."""
    if _active is None:
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    excluded = None if os.environ.get("OTEL_PYTHON_FLASK_EXCLUDED_URLS") else FLASK_EXCLUDED_URLS
    FlaskInstrumentor().instrument_app(app, excluded_urls=excluded)


def current_traceparent() -> str | None:
    """The current span's context as a W3C ``traceparent``; None when off or outside a span."""
    if _active is None:
        return None
    carrier: dict[str, str] = {}
    _active.w3c.inject(carrier)
    return carrier.get("traceparent")


def publishing(events: Sequence[CloudEvent]) -> AbstractContextManager[Sequence[CloudEvent]]:
    """Around one confirmed publish: a PRODUCER span per event, ended at the confirm (or the error);
    yields the events with each span's context as their ``traceparent``. Off: the events as they are."""
    return nullcontext(events) if _active is None else _active.publishing(events)


def consuming(queue: str, deliveries: Sequence[Delivery]) -> AbstractContextManager[None]:
    """Around one handler call: a CONSUMER span per delivery, continued from its ``traceparent``."""
    return nullcontext() if _active is None else _active.consuming(queue, deliveries)
