"""Every environment variable a service reads, defined once: one section per service and a shared one.

A field is the variable in lower case (``DELIVERY_LIMIT`` -> ``delivery_limit``), with its
type (services/common/config/values.py checks the text), its default and its description;
``--help`` of each service, ``VARIABLES`` and docs/configuration.md are generated from them.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.config.values import (
    Boolean,
    ConfigError,
    Delays,
    HttpUrl,
    Keys,
    LogLevel,
    ModelBackend,
    MongoUri,
    OptionalPositiveInt,
    Ports,
    PositiveFloat,
    PositiveInt,
    RabbitmqUrl,
    uri_database,
)

# Svix's schedule (docs/api.md): 8 attempts over about 28 hours.
SVIX_RETRY_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)

# A default computed from other settings: --help and the docs say "unset" and the description says how.
DERIVED: dict[str, Any] = {"derived": True}


class Section(BaseSettings):
    # Read once, then frozen; an empty variable is an unset one (compose files pass "${X:-}").
    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True, extra="ignore")


class SharedSettings(Section):
    """Every service: the broker, the database, logs and probes."""

    rabbitmq_url: RabbitmqUrl = Field(
        "amqp://guest:guest@127.0.0.1:5672/%2F",
        description="AMQP URL of the broker (vhost in the path); the nodes of one cluster: comma-separated URLs, "
                    "one vhost and the same credentials (docs/operations.md)")
    rabbitmq_quorum_group_size: OptionalPositiveInt = Field(
        None, description="members of each work queue (quorum queue) on a cluster, leaders balanced over the nodes; "
                          "unset: the broker's default (every node)")
    mongo_uri: MongoUri = Field(None, description="MongoDB URI; unset: `make run` and the tests start an embedded "
                                                  "SecantusDB")
    mongo_db: str = Field("", description="database name; unset: the one MONGO_URI names "
                                          "(mongodb://host/recipes_prod, as pymongo's get_default_database), "
                                          "else recipes", json_schema_extra=DERIVED)
    delivery_limit: PositiveInt = Field(20, description="redeliveries of one message before it is dead-lettered")
    probe_port: OptionalPositiveInt = Field(
        None, description="port for /healthz, /readyz and /metrics of the runner, the store and the webhook "
                          "deliverer; unset: off")
    log_level: LogLevel = Field("INFO", description="DEBUG | INFO | WARNING | ERROR (JSON logs on stderr)")

    @model_validator(mode="after")
    def _database(self) -> SharedSettings:
        # pymongo's get_default_database: MONGO_DB if set, else the URI's database, else "recipes".
        named = uri_database(self.mongo_uri) if self.mongo_uri else None
        object.__setattr__(self, "mongo_db", self.mongo_db or named or "recipes")  # frozen: set while validating
        return self

    def require_mongo_uri(self) -> str:
        if not self.mongo_uri:
            raise ConfigError("MONGO_URI is not set (make run starts an embedded SecantusDB and sets it)")
        return self.mongo_uri


class RunnerSettings(Section):
    """`python -m services.runner`: the model API and the bounds of one generation."""

    openai_api_key: str | None = Field(None, description="OpenAI key; unset: the bundled emulator is used")
    openai_base_url: HttpUrl = Field(None, description="OpenAI-compatible base URL (e.g. http://127.0.0.1:8081/v1 "
                                                       "for the emulator; `make run` sets it)")
    openai_model: str = Field("gpt-6.1-sol", description="model name sent to the API (served with no announced "
                                                         "shutdown; docs/runner.md)")
    model_backend: ModelBackend = Field("responses", description="responses (OpenAI today) | assistants (the seed's "
                                                                 "flow: the emulator and compatible servers)")
    runner_responses_background: Boolean = Field(
        False, description="responses backend: create background responses and wait for OpenAI webhooks "
                           "(via the gateway) instead of streaming (docs/runner.md)")
    runner_safety_poll_seconds: PositiveFloat = Field(
        60.0, description="background responses: retrieve once after this long without a webhook")
    runner_run_timeout_seconds: PositiveFloat = Field(
        600.0, description="a model run / response turn still unfinished this long after the runner started it is "
                           "cancelled and the generation fails (code run_timeout)")
    runner_max_turns: PositiveInt = Field(
        100, description="model turns one generation may take; past it the turn is cancelled and the generation "
                         "fails (code limit_exceeded)")
    runner_max_tool_calls: PositiveInt = Field(
        1000, description="tool calls one generation may make; past it the turn is cancelled and the generation "
                          "fails (code limit_exceeded)")
    runner_concurrency: PositiveInt = Field(200, description="generations one runner process drives at once")
    runner_publish_timeout_seconds: PositiveFloat = Field(
        30.0, description="seconds the runner waits for the broker to confirm its events (a tool call's before "
                          "the model hears OK)")


class StoreSettings(Section):
    """`python -m services.store`: applying events to MongoDB."""

    store_batch_size: PositiveInt = Field(500, description="events the store applies in one bulk write")


class GatewaySettings(Section):
    """`python -m services.gateway [serve|deliver]`: the HTTP API and the webhook deliverer."""

    gateway_bind: str = Field("127.0.0.1:8000", description="host:port gunicorn binds the gateway to")
    gateway_workers: PositiveInt = Field(2, description="gunicorn worker processes of the gateway")
    gateway_connections: PositiveInt = Field(
        100, description="requests and streams one gunicorn worker serves at once (gevent worker_connections); "
                         "each open SSE stream holds one")
    gateway_api_keys: Keys = Field((), description="comma-separated bearer tokens; unset: no authentication")
    gateway_operator_keys: Keys = Field((), description="comma-separated bearer tokens that read every key's data "
                                                        "(docs/security.md)")
    gateway_max_subscriptions_per_key: PositiveInt = Field(
        100, description="webhook subscriptions one API key may hold; past it 409")
    gateway_publish_timeout: PositiveFloat = Field(
        5.0, description="seconds to wait for the broker's confirm before answering 503")
    gateway_max_body_bytes: PositiveInt = Field(262144, description="largest request body accepted (413 above)")
    gateway_body_timeout_seconds: PositiveFloat = Field(
        10.0, description="longest a client may take to send a request body (408 after); headers must arrive "
                          "within 5 s (docs/security.md)")
    gateway_sse_max_seconds: PositiveFloat = Field(300.0, description="longest an SSE stream stays open")
    gateway_sse_safety_read_seconds: PositiveFloat = Field(
        30.0, description="how often an open SSE stream reads MongoDB on its own; it is woken at once by the "
                          "store's events.recorded on the broker, and reads every second while the broker is away")
    gateway_sse_max_streams: PositiveInt = Field(
        0, description="open SSE streams per worker (each holds a connection); more get 503. Unset: half of "
                       "GATEWAY_CONNECTIONS, at least 1", json_schema_extra=DERIVED)
    openai_webhook_secret: str | None = Field(
        None, description="verifies OpenAI webhooks at /v1/openai/webhooks; unset: that endpoint answers 404")
    webhook_allow_private_targets: Boolean = Field(
        False, description="allow webhook URLs on private/loopback addresses (and any port): dev, tests")
    webhook_allowed_ports: Ports = Field(
        frozenset({80, 443}), description="ports a webhook URL may use (comma-separated) unless private targets "
                                          "are allowed")
    webhook_allow_http: Boolean = Field(
        False, description="accept plain http:// webhook URLs (development, tests); otherwise https only")
    webhook_timeout_seconds: PositiveFloat = Field(
        15.0, description="deadline of one webhook POST, connect through the whole answer: a 2xx within it is a "
                          "success")
    webhook_retry_schedule: Delays = Field(
        SVIX_RETRY_SCHEDULE, description="seconds before each attempt of a delivery (comma-separated, the first 0): "
                                         "Svix's schedule; failed once every one failed")
    webhook_give_up_seconds: PositiveFloat = Field(
        172800.0, description="after this long a delivery is given up and dead-lettered, even if its schedule is "
                              "not used up")
    webhook_max_backoff_seconds: PositiveFloat = Field(
        36000.0, description="longest wait between two attempts of one delivery (a Retry-After asking for more "
                             "gets this)")
    webhook_disable_after: PositiveFloat = Field(
        432000.0, description="seconds of nothing but failed attempts after which a subscription is disabled "
                              "(5 days)")
    webhook_rotation_overlap: PositiveFloat = Field(
        86400.0, description="seconds a subscription's previous secret still signs its deliveries after POST "
                             ".../rotate-secret (both signatures are sent)")
    webhook_parallel_attempts: PositiveInt = Field(
        64, description="webhook attempts one deliverer process makes at once (its thread pool)")
    webhook_attempts_per_target: PositiveInt = Field(
        4, description="of those, at most this many for one subscription, so a slow target cannot take them all")
    webhook_safety_poll_seconds: PositiveFloat = Field(
        5.0, description="the deliverer looks for due deliveries at least this often: it is woken at once by what "
                         "it records and by its own finished attempts, and sleeps until the next retry is due, so "
                         "this poll only finds records other processes made due (replays, another deliverer's "
                         "finished attempts)")
    webhook_record_batch_size: PositiveInt = Field(
        100, description="recipe events the deliverer records as pending deliveries in one bulk write")
    webhook_record_prefetch: PositiveInt = Field(
        400, description="recipe events the deliverer holds unacknowledged (at least one batch)")

    @model_validator(mode="after")
    def _streams(self) -> GatewaySettings:
        # Streams hold a connection each for minutes: keep connections free for everything else.
        streams = self.gateway_sse_max_streams or max(1, self.gateway_connections // 2)
        if streams > self.gateway_connections:
            raise ConfigError(f"GATEWAY_SSE_MAX_STREAMS={streams} is more than GATEWAY_CONNECTIONS="
                              f"{self.gateway_connections}: streams would hold every connection and nothing else "
                              "would be answered")
        object.__setattr__(self, "gateway_sse_max_streams", streams)
        return self


class Settings(GatewaySettings, StoreSettings, RunnerSettings, SharedSettings):
    """Every section in one object: what ``load_settings`` returns and the services are given."""


# The sections each service reads, in the order --help lists them.
SERVICES: dict[str, tuple[type[Section], ...]] = {
    "runner": (SharedSettings, RunnerSettings),
    "store": (SharedSettings, StoreSettings),
    "gateway": (SharedSettings, GatewaySettings),
}
SECTIONS: tuple[type[Section], ...] = (SharedSettings, RunnerSettings, StoreSettings, GatewaySettings)
