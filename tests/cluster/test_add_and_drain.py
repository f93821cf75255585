"""docs/operations.md's node procedures, run on the harness cluster: a node added with
``join_cluster`` and ``rabbitmq-queues grow``, then drained with ``rabbitmq-upgrade drain`` and
removed with ``rabbitmq-queues shrink`` and ``forget_cluster_node``, loses no confirmed message."""
import pika
import pika.exceptions

from scripts.rabbitmq_cluster import Cluster, Node
from services.common import amqp
from tests.support.waiting import wait_for

BEFORE = ("procedure.a", "procedure.b")  # declared on the three nodes, grown onto the new one
LOCAL = "procedure.local"  # declared on the new node, which leads it until drained
MESSAGES = 200  # per queue


def _members(cluster: Cluster, vhost: str) -> dict[str, tuple[str, set[str]]]:
    """Queue -> (leader, members), asked of a node that is never added or drained."""
    listing = cluster.ctl(cluster.nodes[0], "list_queues", "-p", vhost, "name", "leader", "members",
                          "--no-table-headers", "-q").stdout
    rows = (line.split("\t") for line in listing.splitlines() if line)
    return {name: (leader, set(members.strip("[]").split(", "))) for name, leader, members in rows}


def _open(node: Node, vhost: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(amqp.connection_parameters(f"amqp://guest:guest@127.0.0.1:{node.port}/{vhost}"))


def _declare_and_fill(node: Node, vhost: str, queue: str, arguments: dict) -> None:
    connection = _open(node, vhost)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum", **arguments})
        for n in range(MESSAGES):
            channel.basic_publish("", queue, f"{queue}-{n}".encode(), pika.BasicProperties(delivery_mode=2))
    finally:
        connection.close()


def _closed_by_the_broker(connection: pika.BlockingConnection) -> bool:
    try:
        connection.process_data_events(time_limit=0.2)
    except pika.exceptions.AMQPConnectionError:
        return True
    return connection.is_closed


def _drain_everything(node: Node, vhost: str) -> list[bytes]:
    connection = _open(node, vhost)
    bodies = []
    try:
        channel = connection.channel()
        for queue in (*BEFORE, LOCAL):
            while (message := channel.basic_get(queue, auto_ack=True))[0] is not None:
                bodies.append(message[2])
    finally:
        connection.close()
    return bodies


def test_a_node_added_grown_onto_then_drained_and_removed_keeps_every_queue_and_message(cluster, cluster_url):
    vhost = amqp.virtual_host(cluster_url)
    original = {node.name for node in cluster.nodes}
    for queue in BEFORE:
        _declare_and_fill(cluster.nodes[0], vhost, queue, {"x-quorum-initial-group-size": 3})

    new = cluster.add_node()
    try:
        cluster.ctl(new, "stop_app")
        cluster.ctl(new, "join_cluster", cluster.nodes[0].name)
        cluster.ctl(new, "start_app")
        cluster.ctl(new, "await_online_nodes", "4", "--timeout", "60")
        cluster.ctl(new, "grow", new.name, "all", "--vhost-pattern", f"^{vhost}$", tool="rabbitmq-queues")
        assert all(members == original | {new.name} for _, members in _members(cluster, vhost).values())

        local = {"x-quorum-initial-group-size": 4, "x-queue-leader-locator": "client-local"}
        _declare_and_fill(new, vhost, LOCAL, local)
        assert _members(cluster, vhost)[LOCAL][0] == new.name
        client = _open(new, vhost)

        cluster.ctl(new, "drain", tool="rabbitmq-upgrade")
        wait_for(lambda: all(leader != new.name for leader, _ in _members(cluster, vhost).values()),
                 message="no queue led by the drained node")
        wait_for(lambda: _closed_by_the_broker(client), message="the drained node's client connection closed")

        cluster.ctl(cluster.nodes[0], "shrink", new.name, tool="rabbitmq-queues")
        assert all(members == original for _, members in _members(cluster, vhost).values())
        cluster.ctl(new, "stop_app")
        cluster.ctl(cluster.nodes[0], "forget_cluster_node", new.name)
    finally:  # the same steps again, allowed to fail: the session cluster goes on with its three nodes
        cluster.ctl(new, "stop_app", check=False)
        cluster.ctl(cluster.nodes[0], "forget_cluster_node", new.name, check=False)
        cluster.remove_node(new)

    status = cluster.ctl(cluster.nodes[1], "cluster_status", "--formatter", "json").stdout
    assert new.name not in status
    bodies = _drain_everything(cluster.nodes[2], vhost)
    assert len(bodies) == len(set(bodies)) == 3 * MESSAGES
