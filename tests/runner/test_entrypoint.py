"""`python -m services.runner`: bad configuration exits 2 with a clear message; probes; SIGTERM."""
import requests

from tests.support.mongo import free_port
from tests.support.waiting import wait_for


def _exit(process, timeout=30):
    return process.process.wait(timeout)


def test_without_a_key_or_a_base_url_the_runner_says_what_to_set(start_service, service_env):
    env = {**service_env, "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}
    runner = start_service("services.runner", env, name="runner")
    assert _exit(runner) == 2
    assert "OPENAI_API_KEY" in runner.log() and "OPENAI_BASE_URL" in runner.log()


def test_a_malformed_variable_is_named(start_service, service_env):
    env = {**service_env, "OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "RUNNER_CONCURRENCY": "many"}
    runner = start_service("services.runner", env, name="runner")
    assert _exit(runner) == 2
    assert "RUNNER_CONCURRENCY='many' is not an integer" in runner.log()


def test_without_a_database_the_runner_cannot_resume_and_refuses_to_start(start_service, service_env):
    env = {**service_env, "OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "MONGO_URI": ""}
    runner = start_service("services.runner", env, name="runner")
    assert _exit(runner) == 2
    assert "MONGO_URI is not set" in runner.log()


def test_with_a_probe_port_the_runner_reports_ready_once_consuming_and_stops_on_sigterm(
        start_service, service_env):
    port = free_port()
    env = {**service_env, "OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "OPENAI_API_KEY": "", "PROBE_PORT": str(port)}
    runner = start_service("services.runner", env, name="runner")

    def ready():
        try:
            return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_for(ready, timeout=30, message="/readyz to answer 200")
    assert runner.terminate(timeout=40) == 0
