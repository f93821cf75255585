"""Fault knobs: parsing, merging and deterministic decisions. No I/O.

A fault spec is ``name=probability`` pairs, e.g. ``"rate_limit=0.2,server_error=0.1,drop=0.05"``.
HTTP faults hit a request; content faults hit one tool call's first attempt; run faults hit a model turn;
stream faults hit a streamed answer.
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from services.emulator.models import DEFAULT_MODELS, Model, model_object, parse_models

HTTP_FAULTS = ("rate_limit", "server_error", "drop")
CONTENT_FAULTS = ("malformed_args", "wrong_types", "unknown_function", "lone_surrogate", "deep_args")
RUN_FAULTS = ("run_fail", "run_expire", "run_hang")
STREAM_FAULTS = ("stream_cut",)
PLATFORM_FAULTS = ("assistants_shutdown",)  # /v1/assistants* and /v1/threads* answer 404, as after 2026-08-26
FAULT_NAMES = HTTP_FAULTS + CONTENT_FAULTS + RUN_FAULTS + STREAM_FAULTS + PLATFORM_FAULTS


class FaultSpecError(ValueError):
    """A fault spec names an unknown fault or a probability outside [0, 1]."""


def parse_faults(spec: str | Mapping[str, Any] | None) -> dict[str, float]:
    """``"a=0.1,b=1"`` (or a mapping) -> ``{"a": 0.1, "b": 1.0}``, validated."""
    if not spec:
        return {}
    if isinstance(spec, str):
        pairs: dict[str, Any] = {}
        for part in spec.split(","):
            if not part.strip():
                continue
            name, sep, value = part.partition("=")
            if not sep:
                raise FaultSpecError(f"fault {part.strip()!r} has no '=probability'")
            pairs[name.strip()] = value.strip()
    else:
        pairs = dict(spec)
    faults = {}
    for name, value in pairs.items():
        if name not in FAULT_NAMES:
            raise FaultSpecError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
        try:
            probability = float(value)
        except (TypeError, ValueError):
            raise FaultSpecError(f"fault {name}={value!r} is not a number") from None
        if not 0.0 <= probability <= 1.0:
            raise FaultSpecError(f"fault {name}={value!r} must be between 0 and 1")
        faults[name] = probability
    return faults


@dataclass(frozen=True)
class Knobs:
    """The emulator's adjustable behaviour; replaced whole at runtime through /_emulator/config."""

    latency_ms: int = 0
    think_ms: int = 50
    poll_after_ms: int = 100
    retry_after_ms: int = 100
    run_expire_s: int = 600
    faults: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    api_key: str | None = None  # when set, model requests without "Bearer <api_key>" get OpenAI's 401
    tokens_per_second: int = 0  # pace of streamed function-call arguments; 0: instant
    models: tuple[Model, ...] = DEFAULT_MODELS  # what GET /v1/models lists
    strict_models: bool = False  # when on, a request naming a model not listed gets 404 model_not_found

    def as_dict(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ms, "think_ms": self.think_ms, "poll_after_ms": self.poll_after_ms,
                "retry_after_ms": self.retry_after_ms, "run_expire_s": self.run_expire_s,
                "faults": dict(self.faults), "seed": self.seed, "api_key": self.api_key,
                "tokens_per_second": self.tokens_per_second, "models": [model_object(m) for m in self.models],
                "strict_models": self.strict_models}


_INT_KNOBS = ("latency_ms", "think_ms", "poll_after_ms", "retry_after_ms", "run_expire_s", "tokens_per_second")


def updated_knobs(knobs: Knobs, changes: Mapping[str, Any]) -> Knobs:
    """Apply a partial update (the admin PUT body); unknown keys or bad values raise ValueError."""
    unknown = set(changes) - set(_INT_KNOBS) - {"faults", "seed", "api_key", "models", "strict_models"}
    if unknown:
        raise ValueError(f"unknown knob(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name in _INT_KNOBS:
        if name in changes:
            value = changes[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
            values[name] = value
    if "faults" in changes:
        values["faults"] = parse_faults(changes["faults"])
    if "seed" in changes:
        if changes["seed"] is not None and not isinstance(changes["seed"], int):
            raise ValueError("seed must be an integer or null")
        values["seed"] = changes["seed"]
    if "api_key" in changes:
        if changes["api_key"] is not None and not (isinstance(changes["api_key"], str) and changes["api_key"]):
            raise ValueError("api_key must be a non-empty string or null")
        values["api_key"] = changes["api_key"]
    if "models" in changes:
        values["models"] = parse_models(changes["models"])
    if "strict_models" in changes:
        if not isinstance(changes["strict_models"], bool):
            raise ValueError("strict_models must be true or false")
        values["strict_models"] = changes["strict_models"]
    if values.get("poll_after_ms", knobs.poll_after_ms) < 1:
        raise ValueError("poll_after_ms must be at least 1")
    return replace(knobs, **values)


class Dice:
    """Thread-safe fault decisions; the sequence is reproducible for a given seed."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._random = random.Random(seed)

    def roll(self, probability: float) -> bool:
        if probability <= 0.0:
            return False
        if probability >= 1.0:
            return True
        with self._lock:
            return self._random.random() < probability
