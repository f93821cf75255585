"""Configuration: read from the environment once, validated, frozen, passed in.

Every variable a service reads is listed in ``VARIABLES`` (docs and the
docker-compose test use it), so a typo in a deployment is caught at start-up
with a message that names the variable and what is wrong with it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import unquote, urlsplit

MODEL_BACKENDS = ("assistants", "responses")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
AMQP_SCHEMES = ("amqp", "amqps")

# name -> (default, description). A default of None means "unset".
VARIABLES: dict[str, tuple[str | None, str]] = {
    "RABBITMQ_URL": ("amqp://guest:guest@127.0.0.1:5672/%2F", "AMQP URL of the broker (vhost in the path); "
                     "the nodes of one cluster: comma-separated URLs, same vhost and credentials"),
    "RABBITMQ_QUORUM_GROUP_SIZE": (None, "members of each work queue (quorum queue) on a cluster, leaders "
                                   "balanced over the nodes; unset: the broker's default (every node)"),
    "MONGO_URI": (None, "MongoDB URI; unset: `make run` and the tests start an embedded SecantusDB"),
    "MONGO_DB": (None, "database name; unset: the one MONGO_URI names (mongodb://host/recipes_prod), else recipes"),
    "OPENAI_API_KEY": (None, "OpenAI key; unset: the bundled emulator is used"),
    "OPENAI_BASE_URL": (None, "OpenAI-compatible base URL (e.g. http://127.0.0.1:8081/v1 for the emulator)"),
    "OPENAI_MODEL": ("gpt-6.1-sol", "model name sent to the API (served with no announced shutdown; docs/runner.md)"),
    "OPENAI_WEBHOOK_SECRET": (None, "secret for verifying OpenAI webhooks at the gateway"),
    "MODEL_BACKEND": ("responses", "responses | assistants (the seed's flow; OpenAI no longer serves it)"),
    "RUNNER_RESPONSES_BACKGROUND": ("false", "responses backend: create background responses and wait for "
                                    "OpenAI webhooks (via the gateway) instead of streaming"),
    "RUNNER_SAFETY_POLL_SECONDS": ("60", "background responses: retrieve once after this long without a webhook"),
    "RUNNER_RUN_TIMEOUT_SECONDS": ("600", "a model run / response turn still unfinished this long after the runner "
                                   "started it is cancelled and the generation fails (code run_timeout)"),
    "RUNNER_MAX_TURNS": ("100", "model turns one generation may take; past it the turn is cancelled and the "
                         "generation fails (code limit_exceeded)"),
    "RUNNER_MAX_TOOL_CALLS": ("1000", "tool calls one generation may make; past it the turn is cancelled and the "
                              "generation fails (code limit_exceeded)"),
    "DELIVERY_LIMIT": ("20", "redeliveries of one message before it is dead-lettered"),
    "RUNNER_CONCURRENCY": ("200", "generations one runner process drives at once"),
    "STORE_BATCH_SIZE": ("500", "events the store applies in one bulk write"),
    "GATEWAY_API_KEYS": (None, "comma-separated bearer tokens; unset: no authentication"),
    "GATEWAY_OPERATOR_KEYS": (None, "comma-separated bearer tokens that read every key's data (docs/security.md)"),
    "GATEWAY_MAX_SUBSCRIPTIONS_PER_KEY": ("100", "webhook subscriptions one API key may hold; past it 409"),
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": ("false", "allow webhook URLs on private/loopback addresses (and any port)"),
    "WEBHOOK_ALLOWED_PORTS": ("80,443",
                              "ports a webhook URL may use (comma-separated) unless private targets are allowed"),
    "PROBE_PORT": (None, "port for /healthz, /readyz and /metrics of runner and store; unset: off"),
    "GATEWAY_BIND": ("127.0.0.1:8000", "host:port gunicorn binds the gateway to"),
    "GATEWAY_WORKERS": ("2", "gunicorn worker processes of the gateway"),
    "LOG_LEVEL": ("INFO", "DEBUG | INFO | WARNING | ERROR"),
}


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message says which and why."""


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r} must be at least 1")
    return value


def _ports(name: str, raw: str) -> frozenset[int]:
    ports = frozenset(_positive_int(name, part.strip()) for part in raw.split(",") if part.strip())
    if not ports or max(ports) > 65535:
        raise ConfigError(f"{name}={raw!r} must be a comma-separated list of ports (1-65535)")
    return ports


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not value > 0:
        raise ConfigError(f"{name}={raw!r} must be greater than 0")
    return value


def _url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in schemes:
        raise ConfigError(f"{name}={raw!r}: scheme must be one of {', '.join(schemes)}, got {parts.scheme or 'none'!r}")
    try:
        port = parts.port  # raises on a non-numeric port
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r}: {exc}") from None
    if not parts.hostname:
        raise ConfigError(f"{name}={raw!r}: no host")
    del port
    return raw


def _mongo_uri(name: str, raw: str) -> str:
    """A MongoDB URI: its host list (``a:27017,b:27017`` for a replica set) checked host by host."""
    parts = urlsplit(raw)
    for host in parts.netloc.rpartition("@")[2].split(","):
        try:
            _url(name, f"{parts.scheme}://{host}/", ("mongodb", "mongodb+srv"))
        except ConfigError as exc:
            raise ConfigError(f"{name}={raw!r}: {str(exc).partition(': ')[2]}") from None
    return raw


def uri_database(uri: str) -> str | None:
    """The database a MongoDB URI names (``mongodb://host/recipes_prod?...`` -> ``recipes_prod``), or None;
    what pymongo's ``MongoClient.get_default_database`` reads (tests/common/test_config.py compares)."""
    _hosts, slash, path = uri.partition("://")[2].partition("/")
    return (unquote(path.partition("?")[0]) or None) if slash else None


def amqp_vhost(path: str) -> str:
    # pika's reading of the path: empty or "/" is the default vhost "/", otherwise the unquoted rest.
    return unquote(path[1:]) if path and path != "/" else "/"


def amqp_urls(raw: str, name: str = "RABBITMQ_URL") -> tuple[str, ...]:
    """The URLs of ``raw``; ConfigError naming ``name`` when one is malformed or they disagree on the
    vhost or the credentials (one cluster, one vhost: a client must find the same data on every node)."""
    urls = tuple(part.strip() for part in raw.split(","))
    if not raw.strip() or any(not url for url in urls):
        raise ConfigError(f"{name}={raw!r}: an empty element (use amqp://user:password@host:port/vhost[,...])")
    first: tuple[str, str | None, str | None] | None = None
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in AMQP_SCHEMES:
            raise ConfigError(f"{name}={raw!r}: {url!r}: scheme must be one of {', '.join(AMQP_SCHEMES)}, "
                              f"got {parts.scheme or 'none'!r}")
        try:
            parts.port  # noqa: B018 - raises on a non-numeric or out-of-range port
        except ValueError as exc:
            raise ConfigError(f"{name}={raw!r}: {url!r}: {exc}") from None
        if not parts.hostname:
            raise ConfigError(f"{name}={raw!r}: {url!r}: no host")
        identity = (amqp_vhost(parts.path), parts.username, parts.password)
        if first is None:
            first = identity
        elif identity[0] != first[0]:
            raise ConfigError(f"{name}={raw!r}: the nodes of one cluster need one vhost, "
                              f"got {first[0]!r} and {identity[0]!r}")
        elif identity[1:] != first[1:]:
            raise ConfigError(f"{name}={raw!r}: the nodes of one cluster need the same credentials")
    return urls


def _keys(raw: str | None) -> tuple[str, ...]:
    return tuple(k.strip() for k in (raw or "").split(",") if k.strip())


@dataclass(frozen=True)
class Settings:
    rabbitmq_url: str
    rabbitmq_quorum_group_size: int | None
    mongo_uri: str | None
    mongo_db: str
    openai_api_key: str | None
    openai_base_url: str | None
    openai_model: str
    openai_webhook_secret: str | None
    model_backend: str
    runner_responses_background: bool
    runner_safety_poll_seconds: float
    runner_run_timeout_seconds: float
    runner_max_turns: int
    runner_max_tool_calls: int
    delivery_limit: int
    runner_concurrency: int
    store_batch_size: int
    gateway_api_keys: tuple[str, ...]
    gateway_operator_keys: tuple[str, ...]
    gateway_max_subscriptions_per_key: int
    webhook_allow_private_targets: bool
    webhook_allowed_ports: frozenset[int]
    probe_port: int | None
    log_level: str
    gateway_bind: str
    gateway_workers: int

    def require_mongo_uri(self) -> str:
        if not self.mongo_uri:
            raise ConfigError("MONGO_URI is not set (make run starts an embedded SecantusDB and sets it)")
        return self.mongo_uri


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every variable; raise ConfigError naming the first bad one."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        raw = env.get(name)
        if raw is None or raw == "":
            return VARIABLES[name][0]
        return raw

    backend = get("MODEL_BACKEND") or ""
    if backend not in MODEL_BACKENDS:
        raise ConfigError(f"MODEL_BACKEND={backend!r} must be one of {', '.join(MODEL_BACKENDS)}")
    level = (get("LOG_LEVEL") or "").upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL={level!r} must be one of {', '.join(LOG_LEVELS)}")
    mongo_uri = get("MONGO_URI")
    if mongo_uri is not None:
        _mongo_uri("MONGO_URI", mongo_uri)
    base_url = get("OPENAI_BASE_URL")
    if base_url is not None:
        _url("OPENAI_BASE_URL", base_url, ("http", "https"))
    probe = get("PROBE_PORT")
    group_size = get("RABBITMQ_QUORUM_GROUP_SIZE")
    keys = _keys(get("GATEWAY_API_KEYS"))
    return Settings(
        rabbitmq_url=",".join(amqp_urls(get("RABBITMQ_URL") or "")),
        rabbitmq_quorum_group_size=None if group_size is None else _positive_int("RABBITMQ_QUORUM_GROUP_SIZE",
                                                                                 group_size),
        mongo_uri=mongo_uri,
        # pymongo's get_default_database: MONGO_DB if set, else the URI's database, else "recipes".
        mongo_db=get("MONGO_DB") or (uri_database(mongo_uri) if mongo_uri else None) or "recipes",
        openai_api_key=get("OPENAI_API_KEY"),
        openai_base_url=base_url,
        openai_model=get("OPENAI_MODEL") or "",
        openai_webhook_secret=get("OPENAI_WEBHOOK_SECRET"),
        model_backend=backend,
        runner_responses_background=_bool("RUNNER_RESPONSES_BACKGROUND", get("RUNNER_RESPONSES_BACKGROUND") or ""),
        runner_safety_poll_seconds=_positive_float("RUNNER_SAFETY_POLL_SECONDS",
                                                   get("RUNNER_SAFETY_POLL_SECONDS") or ""),
        runner_run_timeout_seconds=_positive_float("RUNNER_RUN_TIMEOUT_SECONDS",
                                                   get("RUNNER_RUN_TIMEOUT_SECONDS") or ""),
        runner_max_turns=_positive_int("RUNNER_MAX_TURNS", get("RUNNER_MAX_TURNS") or ""),
        runner_max_tool_calls=_positive_int("RUNNER_MAX_TOOL_CALLS", get("RUNNER_MAX_TOOL_CALLS") or ""),
        delivery_limit=_positive_int("DELIVERY_LIMIT", get("DELIVERY_LIMIT") or ""),
        runner_concurrency=_positive_int("RUNNER_CONCURRENCY", get("RUNNER_CONCURRENCY") or ""),
        store_batch_size=_positive_int("STORE_BATCH_SIZE", get("STORE_BATCH_SIZE") or ""),
        gateway_api_keys=keys,
        gateway_operator_keys=_keys(get("GATEWAY_OPERATOR_KEYS")),
        gateway_max_subscriptions_per_key=_positive_int("GATEWAY_MAX_SUBSCRIPTIONS_PER_KEY",
                                                        get("GATEWAY_MAX_SUBSCRIPTIONS_PER_KEY") or ""),
        webhook_allow_private_targets=_bool(
            "WEBHOOK_ALLOW_PRIVATE_TARGETS", get("WEBHOOK_ALLOW_PRIVATE_TARGETS") or ""),
        webhook_allowed_ports=_ports("WEBHOOK_ALLOWED_PORTS", get("WEBHOOK_ALLOWED_PORTS") or ""),
        probe_port=None if probe is None else _positive_int("PROBE_PORT", probe),
        log_level=level,
        gateway_bind=get("GATEWAY_BIND") or "",
        gateway_workers=_positive_int("GATEWAY_WORKERS", get("GATEWAY_WORKERS") or ""),
    )


# Which variables each service reads (the gateway's own knobs are in services/gateway/options.py).
_COMMON = ("RABBITMQ_URL", "RABBITMQ_QUORUM_GROUP_SIZE", "MONGO_URI", "MONGO_DB", "DELIVERY_LIMIT", "LOG_LEVEL")
SERVICE_VARIABLES: dict[str, tuple[str, ...]] = {
    "runner": (*_COMMON, "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "MODEL_BACKEND",
               "RUNNER_RESPONSES_BACKGROUND", "RUNNER_SAFETY_POLL_SECONDS", "RUNNER_RUN_TIMEOUT_SECONDS",
               "RUNNER_MAX_TURNS", "RUNNER_MAX_TOOL_CALLS", "RUNNER_CONCURRENCY", "PROBE_PORT"),
    "store": (*_COMMON, "STORE_BATCH_SIZE", "PROBE_PORT"),
    "gateway": (*_COMMON, "OPENAI_WEBHOOK_SECRET", "GATEWAY_API_KEYS", "GATEWAY_OPERATOR_KEYS",
                "GATEWAY_MAX_SUBSCRIPTIONS_PER_KEY", "WEBHOOK_ALLOW_PRIVATE_TARGETS", "WEBHOOK_ALLOWED_PORTS",
                "GATEWAY_BIND", "GATEWAY_WORKERS"),
}


def environment_help(service: str, extra: Mapping[str, tuple[str | None, str]] | None = None) -> str:
    """The environment variables ``service`` reads, each with its default and what it does (for --help)."""
    described = {**VARIABLES, **(extra or {})}
    names = (*SERVICE_VARIABLES[service], *(extra or {}))
    lines = ["environment (a bad value exits with code 2, naming the variable):"]
    for name in names:
        default, doc = described[name]
        lines.append(f"  {name}" + (f" (default {default})" if default else " (default: unset)"))
        lines.append(f"      {doc}")
    return "\n".join(lines)
