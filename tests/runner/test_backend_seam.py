"""One seam for the model APIs: only services/runner/backends/ knows the SDK; what it raises leaves
translated, so the drive loop (handlers.py) is the same for every backend."""
from __future__ import annotations

import ast
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from services.runner.backends import ModelUnavailable, Refused
from services.runner.backends.assistants import AssistantsModel
from services.runner.backends.responses import ResponsesModel
from services.runner.backends.sdk import make_client
from services.runner.domain import Deadline, Request, ToolCall, Wait
from tests.runner.helpers import SEED_PROMPT
from tests.support.mongo import free_port

RUNNER = Path(__file__).resolve().parents[2] / "services" / "runner"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_backends_import_the_sdk_and_the_drive_loop_imports_no_backend():
    outside = [p for p in RUNNER.rglob("*.py") if "backends" not in p.parts]
    assert outside and all(not any(n.split(".")[0] == "openai" for n in _imports(p)) for p in outside)
    loop = _imports(RUNNER / "handlers.py")
    assert not any(n.startswith("services.runner.backends.") for n in loop)  # only the seam itself


class Session:
    """What the drive loop gives a backend, reduced to notes of what the backend did."""

    def __init__(self, model: str | None = None) -> None:
        self.request = Request("gen-seam", SEED_PROMPT, None, model, None)
        self.record: dict[str, Any] = {}
        self.deadline = Deadline(datetime.now(timezone.utc), 60)
        self.checkpoints: list[dict[str, Any]] = []
        self.calls: list[tuple[ToolCall, int]] = []

    def checkpoint(self, **fields: Any) -> None:
        self.checkpoints.append(fields)

    def started(self, model: str | None, ids: Any) -> None:
        self.checkpoints.append({"started": dict(ids)})

    def call_complete(self, call: ToolCall, position: int) -> None:
        self.calls.append((call, position))


@pytest.mark.parametrize("backend", [AssistantsModel, ResponsesModel])
def test_each_backend_opens_a_turn_and_hands_over_its_calls_as_they_complete(backend, start_emulator):
    emulator = start_emulator()
    model = backend(make_client(None, emulator.base_url), "gpt-4.1")
    try:
        session = Session()
        turn = model.open(session)
        assert session.checkpoints and any("started" in c for c in session.checkpoints)
        if isinstance(model.decide(turn), Wait):
            turn = model.wait(session, turn)
        assert [c.name for c, _ in session.calls] == [c.name for c in turn.tool_calls] == ["addRecipe"]
        assert [p for _, p in session.calls] == [0]
    finally:
        model.close()


@pytest.mark.parametrize("backend", [AssistantsModel, ResponsesModel])
def test_an_unreachable_api_leaves_a_backend_as_model_unavailable(backend):
    model = backend(make_client(None, f"http://127.0.0.1:{free_port()}/v1", max_retries=0), "gpt-4.1")
    try:
        with pytest.raises(ModelUnavailable):
            model.open(Session())
    finally:
        model.close()


def test_a_model_the_api_does_not_serve_leaves_the_backend_refused_with_its_code(start_emulator):
    emulator = start_emulator("--strict-models")
    model = ResponsesModel(make_client(None, emulator.base_url), "gpt-4.1")
    try:
        with pytest.raises(Refused) as refused:
            model.open(Session(model="gpt-4-1106-preview"))
        assert refused.value.code == "model_not_found"
    finally:
        model.close()
