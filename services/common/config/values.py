"""How one variable's text becomes a value: pure checks that name the variable in their error.

Each ``check(name, raw)`` raises ``ConfigError`` with a message that starts with the
variable (``DELIVERY_LIMIT='0' must be at least 1``); the ``Annotated`` types below
attach them to settings fields (services/common/config/sections.py), where the
variable is the field's name in capitals.
"""
from __future__ import annotations

from typing import Annotated, Any, Callable
from urllib.parse import unquote, urlsplit

from pydantic import BeforeValidator, ValidationInfo
from pydantic_settings import NoDecode

MODEL_BACKENDS = ("assistants", "responses")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
AMQP_SCHEMES = ("amqp", "amqps")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message says which and why."""


def boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r} must be at least 1")
    return value


def positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not value > 0:
        raise ConfigError(f"{name}={raw!r} must be greater than 0")
    return value


def ports(name: str, raw: str) -> frozenset[int]:
    found = frozenset(positive_int(name, part.strip()) for part in raw.split(",") if part.strip())
    if not found or max(found) > 65535:
        raise ConfigError(f"{name}={raw!r} must be a comma-separated list of ports (1-65535)")
    return found


def delays(name: str, raw: str) -> tuple[float, ...]:
    """Seconds before each attempt, comma-separated; the first is 0 (the attempt made on recording)."""
    try:
        found = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a comma-separated list of seconds") from None
    if found[0] != 0 or any(delay < 0 for delay in found):
        raise ConfigError(f"{name}={raw!r} must start with 0 and hold no negative delay")
    return found


def keys(name: str, raw: str) -> tuple[str, ...]:
    del name  # any text is a list of keys (empty parts are dropped)
    return tuple(k.strip() for k in raw.split(",") if k.strip())


def model_backend(name: str, raw: str) -> str:
    if raw not in MODEL_BACKENDS:
        raise ConfigError(f"{name}={raw!r} must be one of {', '.join(MODEL_BACKENDS)}")
    return raw


def log_level(name: str, raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{name}={level!r} must be one of {', '.join(LOG_LEVELS)}")
    return level


def url(name: str, raw: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in schemes:
        raise ConfigError(f"{name}={raw!r}: scheme must be one of {', '.join(schemes)}, got {parts.scheme or 'none'!r}")
    try:
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r}: {exc}") from None
    if not parts.hostname:
        raise ConfigError(f"{name}={raw!r}: no host")
    return raw


def mongo_uri(name: str, raw: str) -> str:
    """A MongoDB URI: its host list (``a:27017,b:27017`` for a replica set) checked host by host."""
    parts = urlsplit(raw)
    for host in parts.netloc.rpartition("@")[2].split(","):
        try:
            url(name, f"{parts.scheme}://{host}/", ("mongodb", "mongodb+srv"))
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
    if not raw.strip() or any(not part for part in urls):
        raise ConfigError(f"{name}={raw!r}: an empty element (use amqp://user:password@host:port/vhost[,...])")
    first: tuple[str, str | None, str | None] | None = None
    for one in urls:
        parts = urlsplit(one)
        if parts.scheme not in AMQP_SCHEMES:
            raise ConfigError(f"{name}={raw!r}: {one!r}: scheme must be one of {', '.join(AMQP_SCHEMES)}, "
                              f"got {parts.scheme or 'none'!r}")
        try:
            parts.port  # noqa: B018 - raises on a non-numeric or out-of-range port
        except ValueError as exc:
            raise ConfigError(f"{name}={raw!r}: {one!r}: {exc}") from None
        if not parts.hostname:
            raise ConfigError(f"{name}={raw!r}: {one!r}: no host")
        identity = (amqp_vhost(parts.path), parts.username, parts.password)
        if first is None:
            first = identity
        elif identity[0] != first[0]:
            raise ConfigError(f"{name}={raw!r}: the nodes of one cluster need one vhost, "
                              f"got {first[0]!r} and {identity[0]!r}")
        elif identity[1:] != first[1:]:
            raise ConfigError(f"{name}={raw!r}: the nodes of one cluster need the same credentials")
    return urls


def rabbitmq_url(name: str, raw: str) -> str:
    return ",".join(amqp_urls(raw, name))  # spaces around the commas trimmed


def _checked(check: Callable[[str, str], Any]) -> BeforeValidator:
    """Run ``check`` on the variable's text; a value that is not text (given in code) is already typed."""
    def validate(raw: Any, info: ValidationInfo) -> Any:
        return check((info.field_name or "").upper(), raw) if isinstance(raw, str) else raw
    return BeforeValidator(validate)


# NoDecode: pydantic-settings would read a list-like field's text as JSON; these are comma-separated.
Boolean = Annotated[bool, _checked(boolean)]
PositiveInt = Annotated[int, _checked(positive_int)]
PositiveFloat = Annotated[float, _checked(positive_float)]
OptionalPositiveInt = Annotated[int | None, _checked(positive_int)]
Ports = Annotated[frozenset[int], NoDecode, _checked(ports)]
Keys = Annotated[tuple[str, ...], NoDecode, _checked(keys)]
Delays = Annotated[tuple[float, ...], NoDecode, _checked(delays)]
ModelBackend = Annotated[str, _checked(model_backend)]
LogLevel = Annotated[str, _checked(log_level)]
HttpUrl = Annotated[str | None, _checked(url)]
MongoUri = Annotated[str | None, _checked(mongo_uri)]
RabbitmqUrl = Annotated[str, _checked(rabbitmq_url)]
