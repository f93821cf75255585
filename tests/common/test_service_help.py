"""Every knob is documented once (services/common/config/sections.py) and listed by the --help of the
services that read it."""
import re
import subprocess
import sys

import pytest

from services.common.config import SERVICE_VARIABLES, VARIABLES
from tests.support.processes import ROOT


def _help(service: str) -> str:
    done = subprocess.run([sys.executable, "-m", f"services.{service}", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("service", sorted(SERVICE_VARIABLES))
def test_a_services_help_lists_each_variable_it_reads_with_its_default_and_meaning(service):
    listed = re.findall(r"^  ([A-Z][A-Z0-9_]+) \(default", _help(service), flags=re.M)
    expected = list(SERVICE_VARIABLES[service])
    assert listed == expected


def test_every_variable_is_read_by_some_service():
    read = {name for names in SERVICE_VARIABLES.values() for name in names}
    assert set(VARIABLES) <= read, set(VARIABLES) - read
