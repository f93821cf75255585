import pytest
from pymongo import MongoClient

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
        ({"RUNNER_PUBLISH_TIMEOUT_SECONDS": "soon"}, ("RUNNER_PUBLISH_TIMEOUT_SECONDS", "not a number")),
        ({"GATEWAY_PUBLISH_TIMEOUT": "-1"}, ("GATEWAY_PUBLISH_TIMEOUT", "greater than 0")),
        ({"WEBHOOK_PARALLEL_ATTEMPTS": "0"}, ("WEBHOOK_PARALLEL_ATTEMPTS", "at least 1")),
        ({"WEBHOOK_ALLOWED_PORTS": "80,99999"}, ("WEBHOOK_ALLOWED_PORTS", "1-65535")),
    ],
)
def test_a_bad_value_names_the_variable_and_the_problem(env, names):
    with pytest.raises(ConfigError) as error:
        load_settings(env)
    for word in names:
        assert word in str(error.value)


def test_every_setting_has_a_documented_variable():
    settings = load_settings({})
    fields = set(type(settings).model_fields)
    assert {name.lower() for name in VARIABLES} == fields


def test_api_keys_are_split_on_commas():
    assert load_settings({"GATEWAY_API_KEYS": "a, b,,c"}).gateway_api_keys == ("a", "b", "c")


def test_a_mongo_uri_that_names_a_database_uses_it():
    assert load_settings({"MONGO_URI": "mongodb://db.example:27017/recipes_prod"}).mongo_db == "recipes_prod"


def test_mongo_db_wins_over_the_database_the_uri_names():
    env = {"MONGO_URI": "mongodb://db.example/recipes_prod", "MONGO_DB": "recipes_test"}
    assert load_settings(env).mongo_db == "recipes_test"


@pytest.mark.parametrize("uri", ["mongodb://db.example", "mongodb://db.example/", "mongodb://a,b,c/?replicaSet=rs0"])
def test_without_mongo_db_or_a_database_in_the_uri_it_is_recipes(uri):
    assert load_settings({"MONGO_URI": uri}).mongo_db == "recipes"


@pytest.mark.parametrize("uri", [
    "mongodb://db.example/recipes_prod", "mongodb://db.example/", "mongodb://db.example",
    "mongodb://user:p%40ss@db.example:27018/recipes_prod?authSource=admin",
    "mongodb://a:27017,b:27017,c:27017/recipes_prod?replicaSet=rs0", "mongodb://db.example/recipes%2Dprod?w=majority",
])
def test_the_database_is_the_one_pymongo_get_default_database_reads(uri):
    client = MongoClient(uri, connect=False)
    try:
        expected = client.get_default_database(default="recipes").name
    finally:
        client.close()
    assert load_settings({"MONGO_URI": uri}).mongo_db == expected


def test_a_replica_set_uri_with_ports_is_accepted_and_each_host_checked():
    assert load_settings({"MONGO_URI": "mongodb://a:27017,b:27017/?replicaSet=rs0"}).mongo_uri
    with pytest.raises(ConfigError, match="(?i)MONGO_URI.*port"):
        load_settings({"MONGO_URI": "mongodb://a:27017,b:many/?replicaSet=rs0"})
