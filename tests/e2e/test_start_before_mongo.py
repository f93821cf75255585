"""The webhook deliverer started before MongoDB (everything started at once) waits for it instead of exiting."""
from tests.support.mongo import EmbeddedMongo
from tests.support.system import System
from tests.support.waiting import wait_for


def test_the_deliverer_waits_for_mongodb_at_start_up(tmp_path, service_env, start_service):
    server = EmbeddedMongo(tmp_path / "db")  # not started yet: its port refuses connections
    try:
        system = System(env={**service_env, "MONGO_URI": server.uri}, start_service=start_service)
        process = start_service("services.gateway", system._env("webhooks"), "deliver", name="webhooks")
        system.processes["webhooks"] = process
        wait_for(lambda: "MongoDB unreachable" in process.log() or not process.running, timeout=60,
                 message="the deliverer noticing MongoDB is not there")
        assert process.running, process.log()[-3000:]
        server.start()
        system.wait_ready("webhooks")
    finally:
        server.stop()
