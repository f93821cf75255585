"""docker-compose.yml runs a three-node RabbitMQ cluster and a three-member MongoDB replica set.

Checked against the file alone: no Docker engine runs on this machine kind, so the stack itself
has not been started here (docs/operations.md says what was run instead).
"""
import re
import shlex
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pymongo.uri_parser
import yaml

from services.common import config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
OURS = ("store", "runner", "gateway", "webhooks")
RABBITMQ_NODES = sorted(name for name, service in SERVICES.items() if service.get("image", "").startswith("rabbitmq:"))
MONGO_MEMBERS = sorted(name for name, service in SERVICES.items()
                       if service.get("image", "").startswith("mongo:") and "--replSet" in service.get("command", []))
CLUSTER_CONF = "/etc/rabbitmq/conf.d/20-cluster.conf"


def _cluster_conf(node: str) -> dict[str, str]:
    """The settings of the cluster config file mounted into ``node``."""
    source = next(volume.split(":")[0] for volume in SERVICES[node]["volumes"] if f":{CLUSTER_CONF}" in volume)
    lines = (ROOT / source).read_text().splitlines()
    return dict(line.split(" = ", 1) for line in lines if line and not line.startswith("#"))


def _replica_set_name(member: str) -> str:
    command = SERVICES[member]["command"]
    return command[command.index("--replSet") + 1]


def test_three_rabbitmq_nodes_of_the_official_image_each_its_own_host_and_data():
    assert RABBITMQ_NODES == ["rabbitmq1", "rabbitmq2", "rabbitmq3"]
    for node in RABBITMQ_NODES:
        assert re.fullmatch(r"rabbitmq:4[\w.-]*-management", SERVICES[node]["image"])
        assert SERVICES[node]["hostname"] == node
    data = [next(v for v in SERVICES[node]["volumes"] if v.endswith(":/var/lib/rabbitmq")) for node in RABBITMQ_NODES]
    assert len(set(data)) == 3, data


def test_every_rabbitmq_node_gets_the_same_erlang_cookie_before_the_server_starts():
    setups = {(shlex.join(SERVICES[node]["entrypoint"]), SERVICES[node]["environment"]["RABBITMQ_CLUSTER_COOKIE"])
              for node in RABBITMQ_NODES}
    assert len(setups) == 1, setups
    script = SERVICES[RABBITMQ_NODES[0]]["entrypoint"][-1]
    assert '"$$RABBITMQ_CLUSTER_COOKIE" > /var/lib/rabbitmq/.erlang.cookie' in script  # $$: not compose's
    assert script.endswith("exec docker-entrypoint.sh rabbitmq-server")


def test_the_nodes_find_each_other_by_classic_config_peer_discovery():
    for node in RABBITMQ_NODES:
        conf = _cluster_conf(node)
        assert conf["cluster_formation.peer_discovery_backend"] == "classic_config"
        peers = {value for key, value in conf.items() if key.startswith("cluster_formation.classic_config.nodes.")}
        assert peers == {f"rabbit@{SERVICES[n]['hostname']}" for n in RABBITMQ_NODES}


def test_a_rabbitmq_node_is_healthy_only_once_the_whole_cluster_is_up():
    for node in RABBITMQ_NODES:
        test = SERVICES[node]["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL" and f"await_online_nodes {len(RABBITMQ_NODES)}" in test[1]


def test_our_services_list_every_node_in_rabbitmq_url_with_quorum_queues_on_all_three():
    for name in OURS:
        environment = SERVICES[name]["environment"]
        urls = config.amqp_urls(environment["RABBITMQ_URL"])
        assert sorted(urlsplit(url).hostname for url in urls) == RABBITMQ_NODES
        assert {urlsplit(url).port for url in urls} == {5672}
        assert int(environment["RABBITMQ_QUORUM_GROUP_SIZE"]) == len(RABBITMQ_NODES)
        config.load_settings({k: str(v) for k, v in environment.items() if not str(v).startswith("${")})


def test_three_mongodb_members_of_one_replica_set():
    assert MONGO_MEMBERS == ["mongo1", "mongo2", "mongo3"]
    assert {_replica_set_name(member) for member in MONGO_MEMBERS} == {"rs0"}
    for member in MONGO_MEMBERS:
        assert SERVICES[member]["image"].startswith("mongo:") and SERVICES[member]["hostname"] == member
        assert "--bind_ip_all" in SERVICES[member]["command"]


def test_the_replica_set_is_initiated_once_with_the_three_members_then_waits_for_a_primary():
    init = SERVICES["mongo-init"]
    script = init["command"][-1]
    assert init["image"] == SERVICES["mongo1"]["image"]
    assert re.match(r"try \{ rs\.status\(\) \} catch \(e\) \{ rs\.initiate\(", script)  # only if not yet initiated
    assert f'_id: "{_replica_set_name("mongo1")}"' in script
    assert re.findall(r'host: "([\w-]+):27017"', script) == MONGO_MEMBERS
    assert "db.hello().primary" in script
    assert set(init["depends_on"]) == set(MONGO_MEMBERS)


def test_our_services_use_every_member_and_the_set_name_in_mongo_uri():
    for name in OURS:
        uri = SERVICES[name]["environment"]["MONGO_URI"]
        parsed = pymongo.uri_parser.parse_uri(uri)
        assert sorted(host for host, _ in parsed["nodelist"]) == MONGO_MEMBERS
        assert parse_qs(urlsplit(uri).query)["replicaSet"] == [_replica_set_name("mongo1")]


def test_our_services_start_after_the_cluster_is_healthy_and_the_replica_set_initiated():
    for name in OURS:
        depends = SERVICES[name]["depends_on"]
        assert all(depends[node] == {"condition": "service_healthy"} for node in RABBITMQ_NODES), depends
        assert depends["mongo-init"] == {"condition": "service_completed_successfully"}
