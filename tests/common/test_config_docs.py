"""The documentation of the environment variables cannot drift from the settings that define them
(services/common/config/sections.py)."""
import re

from services.common.config import VARIABLES, reference
from tests.support.processes import ROOT

DOCUMENTS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]
# Read by other programs than the services, each where it says.
NOT_SETTINGS = {
    "GATEWAY_URL": "the CLI's --gateway (services/cli/__main__.py)",
    "GATEWAY_API_KEY": "the CLI's --api-key (services/cli/__main__.py)",
    "RABBITMQ_CLUSTER_DIR": "a test cluster already started (tests/support/cluster.py)",
    "RABBITMQ_CLUSTER_COOKIE": "the compose cluster's Erlang cookie (docker-compose.yml)",
}
SERVICE_PREFIX = re.compile(r"\b(?:RABBITMQ|MONGO|OPENAI|RUNNER|STORE|GATEWAY|WEBHOOK)_[A-Z0-9_]*[A-Z0-9]\b")


def test_docs_configuration_md_is_generated_from_the_settings():
    # Regenerate with `make config-docs`.
    assert (ROOT / "docs" / "configuration.md").read_text() == reference()


def test_every_variable_the_docs_name_is_a_setting():
    unknown = {(name, path.name) for path in DOCUMENTS for name in SERVICE_PREFIX.findall(path.read_text())
               if name not in VARIABLES and name not in NOT_SETTINGS}
    assert not unknown


def test_the_readme_shows_each_listed_variable_with_its_default():
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \| ([^|]+) \|", (ROOT / "README.md").read_text(), flags=re.M)
    assert rows
    for name, shown in rows:
        default = VARIABLES[name][0]
        assert shown.strip() == (f"`{default}`" if default else "unset"), name
