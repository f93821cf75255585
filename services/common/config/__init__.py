"""Configuration: read from the environment once, validated, frozen, passed in.

Every variable is a field of one section (services/common/config/sections.py); a bad
value is a ``ConfigError`` at start-up that names the variable and what is wrong with it.
``VARIABLES``, each service's ``--help`` (``environment_help``) and docs/configuration.md
(``reference``, written by ``python -m services.common.config``) are generated from the fields.
"""
from __future__ import annotations

import os
from typing import Mapping

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from services.common.config.sections import (
    SECTIONS,
    SERVICES,
    GatewaySettings,
    RunnerSettings,
    Section,
    Settings,
    SharedSettings,
    StoreSettings,
)
from services.common.config.values import ConfigError, amqp_urls, amqp_vhost, uri_database

__all__ = ["VARIABLES", "SERVICE_VARIABLES", "ConfigError", "GatewaySettings", "RunnerSettings", "Settings",
           "SharedSettings", "StoreSettings", "amqp_urls", "amqp_vhost", "environment_help", "load_settings",
           "reference", "uri_database"]

# Variables that no longer apply, and what to set instead (a deployment that still sets one is told).
RETIRED = {
    "GATEWAY_THREADS": "GATEWAY_THREADS no longer applies: gateway workers are gevent workers, not threads; "
                       "set GATEWAY_CONNECTIONS (requests one worker serves at once) instead",
}


class _Environment(EnvSettingsSource):
    """pydantic-settings' reading of the environment, over a given mapping (tests pass their own)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every variable; raise ConfigError naming the first bad one."""
    env = os.environ if environ is None else environ
    for name, advice in RETIRED.items():
        if name in env:
            raise ConfigError(advice)
    try:
        return Settings.model_validate(_Environment(env)())
    except ValidationError as error:
        raise _config_error(error) from None


def _config_error(error: ValidationError) -> ConfigError:
    first = error.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, ConfigError):  # our checks name the variable themselves
        return cause
    name = str(first["loc"][0]).upper() if first["loc"] else "configuration"
    return ConfigError(f"{name}={first['input']!r}: {first['msg']}")


def _shown(field: FieldInfo) -> str | None:
    """The default as a variable would spell it; None for unset (or computed from other settings)."""
    value, extra = field.default, field.json_schema_extra
    if value is None or value == "" or value == () or (isinstance(extra, dict) and extra.get("derived")):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset):
        return ",".join(str(part) for part in sorted(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _variables(section: type[Section]) -> dict[str, tuple[str | None, str]]:
    return {name.upper(): (_shown(field), field.description or "") for name, field in section.model_fields.items()
            if name in section.__annotations__}  # the section's own fields, not its bases'


# name -> (default as text, None for unset; description), every section's.
VARIABLES: dict[str, tuple[str | None, str]] = {k: v for s in SECTIONS for k, v in _variables(s).items()}
# Which variables each service reads (its sections'), in --help order.
SERVICE_VARIABLES: dict[str, tuple[str, ...]] = {
    service: tuple(name for section in sections for name in _variables(section))
    for service, sections in SERVICES.items()
}


def environment_help(service: str) -> str:
    """The environment variables ``service`` reads, each with its default and what it does (for --help)."""
    lines = ["environment (a bad value exits with code 2, naming the variable):"]
    for name in SERVICE_VARIABLES[service]:
        default, doc = VARIABLES[name]
        lines.append(f"  {name}" + (f" (default {default})" if default else " (default: unset)"))
        lines.append(f"      {doc}")
    return "\n".join(lines)


def reference() -> str:
    """docs/configuration.md: every section's variables as a table (tests/common/test_config_docs.py)."""
    out = ["# Configuration", "",
           "<!-- Generated from services/common/config/sections.py by `make config-docs`; "
           "tests/common/test_config_docs.py checks it is current. Do not edit by hand. -->", "",
           "Environment variables, read once at start-up and validated: a bad value stops the service (exit "
           "code 2) with a message naming the variable. An empty variable counts as unset. "
           "`python -m services.<runner|store|gateway> --help` lists the ones each service reads."]
    for section in SECTIONS:
        out += ["", f"## {section.__name__.removesuffix('Settings')}", "", (section.__doc__ or "").strip(), "",
                "| variable | default | meaning |", "|---|---|---|"]
        for name, (default, doc) in _variables(section).items():
            out.append(f"| `{name}` | {f'`{default}`' if default else 'unset'} | {_cell(doc)} |")
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
