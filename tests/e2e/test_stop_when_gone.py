"""Each service, idle, exits promptly on SIGTERM when MongoDB is already gone (as when a process manager
stops everything at once; issue 14, item 10). Measured before this test: store 6.0 s, deliverer 6.7 s."""
import time

import pytest

from tests.support.mongo import EmbeddedMongo
from tests.support.system import System

# Generous: the machine is shared and loaded (issue 14 asks for 2 s; the close is bounded to 0.2 s).
STOP_BOUND_SECONDS = 5.0


@pytest.mark.parametrize("name", ["store", "runner", "webhooks", "gateway"])
def test_an_idle_service_stops_promptly_when_mongodb_is_gone(name, tmp_path, service_env, start_service):
    server = EmbeddedMongo(tmp_path / "db").start()  # this test's own MongoDB: it is killed below
    try:
        system = System(env={**service_env, "MONGO_URI": server.uri}, start_service=start_service)
        if name == "runner":
            system.start("emulator")
        process = system.start(name)  # ready: it has used MongoDB (indexes, sessions)
        server.kill()
        started = time.monotonic()
        code = process.terminate(timeout=30)
        elapsed = time.monotonic() - started
        print(f"{name} stopped in {elapsed:.2f}s with MongoDB gone")  # the measurement, shown with -s
        assert elapsed < STOP_BOUND_SECONDS, f"{name} took {elapsed:.1f}s to stop; log:\n{process.log()[-3000:]}"
        assert code == 0, process.log()[-3000:]
    finally:
        server.stop()
