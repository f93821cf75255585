"""`python -m services.runner` refuses bad configuration with a clear message and exit code 2."""


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
