"""The structure a newcomer relies on (docs/architecture.md): no service imports another, and the
core rules import no adapter library (they are plain functions over data)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
ADAPTER_LIBRARIES = {"pika", "pymongo", "flask", "requests", "openai", "httpx", "gunicorn"}
# A tool call into an event, an event into a recipe change, the announcements, a delivery's next state,
# the outcomes a handler names, the contract.
CORE_RULES = ["runner/domain.py", "store/domain.py", "store/outcomes.py", "gateway/webhooks/records.py",
              "common/outcomes.py", "common/events.py", "common/tools.py", "common/schemas.py"]


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("service", sorted(p.name for p in SERVICES.iterdir()
                                           if p.is_dir() and (p / "__init__.py").exists() and p.name != "common"))
def test_a_service_imports_only_itself_and_common(service):
    foreign = {(str(path.relative_to(SERVICES)), name) for path in (SERVICES / service).rglob("*.py")
               for name in _imported(path)
               if name.startswith("services.") and name.split(".")[1] not in {service, "common"}}
    assert foreign == set()


def test_common_imports_no_service():
    foreign = {(str(path.relative_to(SERVICES)), name) for path in (SERVICES / "common").rglob("*.py")
               for name in _imported(path) if name.startswith("services.") and name.split(".")[1] != "common"}
    assert foreign == set()


@pytest.mark.parametrize("module", CORE_RULES)
def test_a_core_rule_module_imports_no_adapter_library(module):
    used = {name.split(".")[0] for name in _imported(SERVICES / module)}
    assert used & ADAPTER_LIBRARIES == set()
