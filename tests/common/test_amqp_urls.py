"""RABBITMQ_URL may list the nodes of one cluster; a malformed list is a start-up error naming the variable."""
import pytest

from services.common.amqp import connection_parameters, shuffled, virtual_host
from services.common.config import ConfigError, load_settings

NODES = "amqp://u:p@127.0.0.1:5701/v,amqp://u:p@127.0.0.1:5702/v, amqp://u:p@127.0.0.1:5703/v"


def test_one_url_is_one_node():
    [only] = connection_parameters("amqp://guest:guest@127.0.0.1:5672/%2F")
    assert (only.host, only.port, only.virtual_host) == ("127.0.0.1", 5672, "/")


def test_a_comma_separated_list_is_every_node_of_one_vhost_not_a_vhost_named_after_the_rest():
    parameters = connection_parameters(NODES)
    assert sorted(p.port for p in parameters) == [5701, 5702, 5703]
    assert {p.virtual_host for p in parameters} == {"v"}
    assert {(p.credentials.username, p.credentials.password) for p in parameters} == {("u", "p")}
    assert virtual_host(NODES) == "v"


def test_settings_apply_to_every_node():
    assert {(p.heartbeat, p.connection_attempts) for p in connection_parameters(NODES, heartbeat=7,
                                                                                 connection_attempts=1)} == {(7, 1)}


def test_clients_try_the_nodes_in_a_shuffled_order():
    orders = {tuple(p.port for p in connection_parameters(NODES)) for _ in range(200)}
    assert len(orders) > 1
    parameters = connection_parameters(NODES)
    reshuffled = {tuple(p.port for p in shuffled(parameters)) for _ in range(200)}
    assert len(reshuffled) > 1 and all(sorted(order) == [5701, 5702, 5703] for order in reshuffled)


def test_settings_keep_the_list_with_spaces_trimmed():
    assert load_settings({"RABBITMQ_URL": NODES}).rabbitmq_url == NODES.replace(" ", "")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("amqp://127.0.0.1:5701/v,amqp:", ("no host",)),
        ("amqp://127.0.0.1:5701/v,http://127.0.0.1:5702/v", ("scheme", "http")),
        ("amqp://127.0.0.1:5701/v,,amqp://127.0.0.1:5702/v", ("empty element",)),
        ("amqp://127.0.0.1:5701/v,", ("empty element",)),
        ("amqp://127.0.0.1:5701/v,amqp://127.0.0.1:x/v", ("Port",)),
        ("amqp://127.0.0.1:5701/v,amqp://127.0.0.1:5702/w", ("one vhost", "'v'", "'w'")),
        ("amqp://127.0.0.1:5701/%2F,amqp://127.0.0.1:5702/v", ("one vhost",)),
        ("amqp://a:b@127.0.0.1:5701/v,amqp://a:c@127.0.0.1:5702/v", ("same credentials",)),
    ],
)
def test_a_malformed_list_is_a_config_error_naming_rabbitmq_url(value, words):
    with pytest.raises(ConfigError) as error:
        load_settings({"RABBITMQ_URL": value})
    assert str(error.value).startswith("RABBITMQ_URL=")
    for word in words:
        assert word in str(error.value)


def test_the_default_vhost_may_be_written_either_way():
    assert virtual_host("amqp://127.0.0.1:5701/%2F,amqp://127.0.0.1:5702/,amqp://127.0.0.1:5703") == "/"


@pytest.mark.parametrize("value", ["0", "-1", "three"])
def test_a_bad_quorum_group_size_is_a_config_error_naming_it(value):
    with pytest.raises(ConfigError, match="RABBITMQ_QUORUM_GROUP_SIZE"):
        load_settings({"RABBITMQ_QUORUM_GROUP_SIZE": value})


def test_the_quorum_group_size_is_unset_by_default():
    assert load_settings({}).rabbitmq_quorum_group_size is None
    assert load_settings({"RABBITMQ_QUORUM_GROUP_SIZE": "3"}).rabbitmq_quorum_group_size == 3
