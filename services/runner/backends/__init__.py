"""The seam between the drive loop (services/runner/handlers.py) and a model API.

A backend speaks in turns (``domain.Turn``): ``open`` resumes the generation's recorded turn or
starts its first, ``answer`` hands the model one turn's tool outputs and returns the next turn,
``wait`` learns a busy turn's next state. What a backend may do to the generation goes through a
``Session``: record its ids durably, announce its start, and hand over each tool call the moment
its stream says the call is complete (the loop publishes it at once). Only the modules of this
package import ``openai``; the SDK's exceptions leave it translated into the errors below.
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

from services.runner.domain import Action, Deadline, Request, ToolCall, Turn


class ModelError(Exception):
    """The model API failed in a way the runner does not classify: the delivery is tried again."""


class ModelUnavailable(ModelError):
    """Connection trouble, 429, 5xx or 409 after the SDK's own retries: worth resuming soon."""


class StreamBroken(ModelUnavailable):
    """A turn's stream ended before it told us the turn's id; the turn must be found by listing."""


class CredentialsRefused(ModelError):
    """401/403: the runner's key is wrong or revoked (a deployment problem every request would hit)."""


class Refused(ModelError):
    """The API refused this request for good (4xx); ``code`` is the API's error code, if any."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.code = code


class TurnTimedOut(Exception):
    """A turn was still unfinished at its deadline (RUNNER_RUN_TIMEOUT_SECONDS)."""

    def __init__(self, turn_id: str | None) -> None:
        super().__init__(f"{turn_id or 'the turn'} was still unfinished at its deadline")
        self.turn_id = turn_id


class Session(Protocol):
    """One delivery of one generation, as a backend sees it."""

    request: Request
    record: Mapping[str, Any]  # the generation's runner record as read when the delivery began
    deadline: Deadline  # the bound on the current turn

    def checkpoint(self, **fields: Any) -> None:
        """Record ``fields`` durably before the step that depends on them."""

    def started(self, model: str | None, ids: Mapping[str, str]) -> None:
        """Announce the generation's start (the same event id on every replay)."""

    def call_complete(self, call: ToolCall, position: int) -> None:
        """A tool call of the current turn is complete: hand its event over now (confirmed before the answer)."""


class Backend(Protocol):
    backend: str  # "assistants" | "responses", as generation.started says
    streams: bool  # False: turns are seen only when finished (polling, webhooks): end-of-turn publishing

    @property
    def default_model(self) -> str: ...
    def decide(self, turn: Turn) -> Action: ...
    def open(self, session: Session) -> Turn: ...
    def answer(self, session: Session, turn: Turn, outputs: Sequence[dict[str, str]]) -> Turn: ...
    def wait(self, session: Session, turn: Turn) -> Turn: ...
    def cancel(self, record: Mapping[str, Any]) -> None: ...
    def final_message(self, session: Session, turn: Turn) -> str: ...
    def close(self) -> None: ...
