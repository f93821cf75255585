"""Start-up checks against the model platform: is OPENAI_MODEL served, is the Assistants API served.

The verdicts are plain functions; ``PlatformGate`` runs the probes (callables from the model
adapter, so no SDK here) with backoff until they pass. The runner consumes generation requests
only once the gate is open, so no generation burns its retries on a platform that cannot serve it
(issue 13: a retired model or the Assistants API shut down fails every request).
"""
from __future__ import annotations

import datetime
import logging
import threading
from dataclasses import dataclass
from typing import Callable, Sequence

from prometheus_client import Gauge

log = logging.getLogger("services.runner.platform")

SHUTDOWN_WARNING_DAYS = 30
SHUTDOWN_DAYS = Gauge("runner_model_shutdown_days", "days until the configured model's announced shutdown",
                      ["model"])

ServedModel = tuple[str, "str | None"]  # (id, shutdown_date YYYY-MM-DD or None), as GET /v1/models lists


class ProbeFailed(Exception):
    """A probe could not get an answer (network, 429, 5xx): not a verdict, so it does not hold the runner."""


@dataclass(frozen=True)
class ModelVerdict:
    served: bool
    error: str | None = None  # why not ready, naming OPENAI_MODEL and what is served
    shutdown_days: int | None = None
    warning: str | None = None


def model_verdict(configured: str, served: Sequence[ServedModel], today: datetime.date) -> ModelVerdict:
    """Whether ``configured`` is among the served models, and how soon it shuts down."""
    dates = dict(served)
    if configured not in dates:
        names = ", ".join(sorted(dates)) or "none"
        return ModelVerdict(False, f"OPENAI_MODEL={configured!r} is not served by this API; served models: {names}")
    shutdown = dates[configured]
    if shutdown is None:
        return ModelVerdict(True)
    days = (datetime.date.fromisoformat(shutdown) - today).days
    warning = None
    if days <= SHUTDOWN_WARNING_DAYS:
        warning = (f"OPENAI_MODEL={configured!r} shuts down on {shutdown} ({days} days); "
                   "set OPENAI_MODEL to a model with no announced shutdown")
    return ModelVerdict(True, shutdown_days=days, warning=warning)


def assistants_error(status: int | None, base_url: str) -> str | None:
    """The not-ready reason for an Assistants probe answered with ``status`` (None: it answered)."""
    if status in (404, 410):
        return f"the Assistants API is not served at {base_url}; set MODEL_BACKEND=responses"
    return None


class PlatformGate:
    """Runs the checks until they pass; ``wait_open`` blocks the consumer until then (or stop)."""

    def __init__(self, model: str, base_url: str, list_models: Callable[[], Sequence[ServedModel] | None],
                 assistants_status: Callable[[], int | None] | None = None, *,
                 first_delay: float = 0.5, max_delay: float = 5.0,
                 today: Callable[[], datetime.date] = datetime.date.today) -> None:
        self._model, self._base_url = model, base_url
        self._list_models, self._assistants_status = list_models, assistants_status
        self._first_delay, self._max_delay, self._today = first_delay, max_delay, today
        self._open = threading.Event()
        self._stopping = threading.Event()
        self.reason: str | None = "start-up checks not run yet"
        self._logged: set[str] = set()

    @property
    def open(self) -> bool:
        return self._open.is_set()

    def stop(self) -> None:
        self._stopping.set()

    def wait_open(self) -> bool:
        """Check with backoff until every check passes (True) or ``stop`` is called (False)."""
        delay = self._first_delay
        while not self._stopping.is_set():
            reason = self._check()
            if reason is None:
                self.reason = None
                self._open.set()
                log.info("platform checks passed", extra={"model": self._model})
                return True
            self.reason = reason
            self._stopping.wait(delay)
            delay = min(delay * 2, self._max_delay)
        return False

    def _check(self) -> str | None:
        try:
            if self._assistants_status is not None:
                error = assistants_error(self._assistants_status(), self._base_url)
                if error is not None:
                    return self._once(error)
            served = self._list_models()
            if served is None:  # key refused: the credentials hold reports that, per generation
                return None
            verdict = model_verdict(self._model, served, self._today())
        except ProbeFailed as exc:
            # No verdict (network, 429, 5xx): not a reason to hold every request; each generation's own
            # retry policy deals with a platform in trouble, as it does after start-up.
            log.warning("platform check inconclusive; consuming anyway", extra={"error": str(exc)})
            return None
        if not verdict.served:
            return self._once(verdict.error or "")
        if verdict.shutdown_days is not None:
            SHUTDOWN_DAYS.labels(model=self._model).set(verdict.shutdown_days)
        if verdict.warning is not None:
            log.warning(verdict.warning, extra={"model": self._model, "shutdown_days": verdict.shutdown_days})
        return None

    def _once(self, error: str) -> str:
        # One clear error per cause, not one per retry.
        if error not in self._logged:
            self._logged.add(error)
            log.error(error, extra={"model": self._model, "base_url": self._base_url})
        return error
