import pytest

from services.common.config import VARIABLES, ConfigError, load_settings


def test_defaults_work_on_a_developer_machine():
    settings = load_settings({})
    assert settings.rabbitmq_url == "amqp://guest:guest@127.0.0.1:5672/%2F"
    assert settings.mongo_uri is None
    assert settings.model_backend == "responses"
    assert settings.openai_model == "gpt-6.1-sol"
    assert settings.delivery_limit == 20


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"RABBITMQ_URL": "http://127.0.0.1:5672/"}, ("RABBITMQ_URL", "scheme")),
        ({"RABBITMQ_URL": "amqp://"}, ("RABBITMQ_URL", "no host")),
        ({"RABBITMQ_URL": "amqp://h:notaport/"}, ("RABBITMQ_URL", "port")),
        ({"MONGO_URI": "localhost:27017"}, ("MONGO_URI", "scheme")),
        ({"MODEL_BACKEND": "chat"}, ("MODEL_BACKEND", "assistants, responses")),
        ({"DELIVERY_LIMIT": "many"}, ("DELIVERY_LIMIT", "not an integer")),
        ({"DELIVERY_LIMIT": "0"}, ("DELIVERY_LIMIT", "at least 1")),
        ({"WEBHOOK_ALLOW_PRIVATE_TARGETS": "maybe"}, ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "boolean")),
        ({"OPENAI_BASE_URL": "ftp://x/v1"}, ("OPENAI_BASE_URL", "scheme")),
    ],
)
def test_a_bad_value_names_the_variable_and_the_problem(env, names):
    with pytest.raises(ConfigError) as error:
        load_settings(env)
    for word in names:
        assert word in str(error.value)


def test_every_setting_has_a_documented_variable():
    settings = load_settings({})
    fields = set(settings.__dataclass_fields__)
    assert {name.lower() for name in VARIABLES} == fields


def test_api_keys_are_split_on_commas():
    assert load_settings({"GATEWAY_API_KEYS": "a, b,,c"}).gateway_api_keys == ("a", "b", "c")
