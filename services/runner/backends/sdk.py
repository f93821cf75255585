"""What both backends share of the openai SDK: the client, error translation, stream deadlines,
poll pacing, and the start-up probes (their verdicts are in services/runner/platform.py).

The SDK itself retries 429/5xx/timeouts (``max_retries``), honouring ``retry-after``; what is
still failing after that leaves a backend as one of the errors in ``services.runner.backends``.
"""
from __future__ import annotations

import functools
import json
import logging
import math
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, TypeVar

import openai
from openai import OpenAI

from services.common.watchdog import Watchdog, shutdown_socket
from services.runner.backends import CredentialsRefused, ModelError, ModelUnavailable, Refused
from services.runner.domain import Deadline
from services.runner.platform import ProbeFailed

log = logging.getLogger("services.runner.backends")

PLACEHOLDER_KEY = "emulator-no-key"
# Errors worth trying again once the SDK's own retries are spent (the handler resumes the run).
_TRANSIENT: tuple[type[BaseException], ...] = (
    openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError, openai.ConflictError,
)
# What a broken stream raises mid-iteration (a cut connection, a torn JSON frame).
STREAM_ERRORS: tuple[type[BaseException], ...] = (openai.APIError, json.JSONDecodeError)
# The same for a stream read as plain JSON (sse.py's SkippingStream): also a frame missing a field or odd in type.
JSON_STREAM_ERRORS: tuple[type[BaseException], ...] = (*STREAM_ERRORS, KeyError, TypeError)


class SdkBackend:
    """What every backend holds: the client, a copy of it without retries, the configured model."""

    def __init__(self, client: OpenAI, model: str) -> None:
        self._client = client
        # Non-idempotent creates are not retried blindly (a lost answer would create a second run,
        # message or response); the handler's retry looks the object up first.
        self._once = client.with_options(max_retries=0)
        self._model = model

    @property
    def default_model(self) -> str:
        return self._model

    def close(self) -> None:
        self._client.close()


def make_client(api_key: str | None, base_url: str | None, *, max_retries: int = 5,
                timeout: float = 120.0) -> OpenAI:
    return OpenAI(api_key=api_key or PLACEHOLDER_KEY, base_url=base_url, max_retries=max_retries, timeout=timeout)


@contextmanager
def sdk_errors() -> Iterator[None]:
    """The SDK's exceptions, as the runner's: transient, credentials, refused for good, or other."""
    try:
        yield
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise CredentialsRefused(str(exc)) from exc
    except _TRANSIENT as exc:
        raise ModelUnavailable(repr(exc)) from exc
    except openai.APIStatusError as exc:
        raise Refused(str(exc), getattr(exc, "code", None)) from exc
    except openai.OpenAIError as exc:
        raise ModelError(repr(exc)) from exc


F = TypeVar("F", bound=Callable[..., Any])


def translated(method: F) -> F:
    """A backend's protocol method, with ``sdk_errors`` around it."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with sdk_errors():
            return method(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def seconds_left(deadline: Deadline | None) -> float:
    return math.inf if deadline is None else deadline.seconds_left(datetime.now(timezone.utc))


def poll_interval(header: str | None, attempt: int, ceiling: float) -> float:
    """The server's openai-poll-after-ms if it sent one, else 0.1 s doubling up to ``ceiling``."""
    try:
        if header is not None:
            return max(int(float(header)), 0) / 1000.0
    except ValueError:
        pass
    return min(0.1 * 2 ** attempt, ceiling)


_WATCHDOG = Watchdog()


class StreamDeadline:
    """Aborts a stream when its turn's deadline passes, so a stream that stays open without a word
    (or with keep-alives only) does not block its worker past the bound; ``fired`` says it did.
    ``response`` is the stream's httpx response."""

    def __init__(self, response: Any, deadline: Deadline | None) -> None:
        self._response = response
        self._deadline = deadline
        self._token: int | None = None
        self.fired = False

    def __enter__(self) -> "StreamDeadline":
        left = seconds_left(self._deadline)
        if not math.isinf(left):
            self._token = _WATCHDOG.arm(left, self._abort)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._token is not None:
            _WATCHDOG.disarm(self._token)

    def _abort(self) -> None:
        response = self._response
        if response.is_closed:  # read to its end just now: its connection may already serve another request
            return
        self.fired = True
        log.info("turn deadline passed; closing its stream")
        network = response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        if sock is None:
            response.close()
            return
        shutdown_socket(sock)  # already closed: the stream ended on its own


def served_models(client: OpenAI) -> list[tuple[str, str | None]] | None:
    """GET /v1/models as (id, shutdown_date) pairs (services/runner/platform.py judges them);
    None when the key is refused (the credentials hold deals with that, per generation)."""
    try:
        return [(model.id, (model.model_extra or {}).get("shutdown_date")) for model in client.models.list()]
    except (openai.AuthenticationError, openai.PermissionDeniedError):
        return None
    except openai.OpenAIError as exc:
        raise ProbeFailed(f"GET /v1/models: {exc}") from None


def assistants_status(client: OpenAI) -> int | None:
    """The HTTP status of a minimal Assistants request when it is refused with 404/410, else None."""
    try:
        client.beta.assistants.list(limit=1)
    except openai.APIStatusError as exc:
        if exc.status_code in (404, 410):
            return exc.status_code
        if exc.status_code in (401, 403):
            return None
        raise ProbeFailed(f"GET /v1/assistants: {exc}") from None
    except openai.OpenAIError as exc:
        raise ProbeFailed(f"GET /v1/assistants: {exc}") from None
    return None
