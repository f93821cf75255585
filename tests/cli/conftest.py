import pytest

from tests.support.system import System


@pytest.fixture
def system(service_env, start_service) -> System:
    """Emulator, store, runner and gateway as real processes on this test's vhost and database."""
    return System(env=service_env, start_service=start_service).start_all()
