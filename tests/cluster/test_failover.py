"""A client whose node is killed -9 moves to another node of RABBITMQ_URL's list (issue 18, item 1)."""
import threading

import pika

from scripts.rabbitmq_cluster import Cluster, Node
from services.common import amqp, topology
from services.common.consumer import Consumer, one_at_a_time
from services.common.events import new_event
from services.common.publisher import Publisher
from services.common.schemas import GENERATION_REQUESTED
from tests.support.waiting import wait_for

QUEUE = topology.RUNNER_GENERATIONS


def _requests(first: int, count: int):
    return [new_event(GENERATION_REQUESTED, "test", {"generation_id": f"gen-{n}", "prompt": "soup"},
                      event_id=f"id-{n}") for n in range(first, first + count)]


def _node_of_only_client(cluster: Cluster, vhost: str) -> Node | None:
    """The node the vhost's only client is connected to: its connection's server port (one listener a node)."""
    node = next(n for n in cluster.nodes if n.running)
    listing = cluster.ctl(node, "list_connections", "vhost", "port", "--no-table-headers", "-q", check=False).stdout
    ports = [int(line.split("\t")[1]) for line in listing.splitlines() if line.split("\t")[0] == vhost]
    return next((n for n in cluster.nodes if n.port == ports[0]), None) if len(ports) == 1 else None


def _declare(url: str) -> None:
    connection = pika.BlockingConnection(amqp.connection_parameters(url))
    try:
        topology.declare(connection.channel(), [QUEUE], delivery_limit=20, group_size=3)
    finally:
        connection.close()


def _consume(url: str, handled: list[str]) -> tuple[Consumer, threading.Thread]:
    consumer = Consumer(url, QUEUE, one_at_a_time(lambda d: handled.append(d.message_id)), quorum_group_size=3)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    wait_for(lambda: consumer.consuming, timeout=30, message="consumer ready")
    return consumer, thread


def test_a_publisher_whose_node_is_killed_publishes_on_another(cluster, cluster_url):
    _declare(cluster_url)
    publisher = Publisher(cluster_url, name="failover-publisher").start()
    assert publisher.wait_connected(30)
    node = wait_for(lambda: _node_of_only_client(cluster, amqp.virtual_host(cluster_url)),
                    message="the publisher's node")
    try:
        publisher.publish(_requests(0, 50), timeout=30)
        cluster.kill(node)
        publisher.publish(_requests(50, 50), timeout=60)  # confirmed by the surviving nodes
    finally:
        publisher.close()
        cluster.start_node(node)
    handled: list[str] = []
    consumer, thread = _consume(cluster_url, handled)
    wait_for(lambda: len(set(handled)) == 100, timeout=60, message="all 100 events")
    consumer.stop()
    thread.join(30)


def test_a_consumer_whose_node_is_killed_consumes_from_another(cluster, cluster_url):
    handled: list[str] = []
    consumer, thread = _consume(cluster_url, handled)
    node = wait_for(lambda: _node_of_only_client(cluster, amqp.virtual_host(cluster_url)),
                    message="the consumer's node")
    publisher = None
    try:
        cluster.kill(node)
        publisher = Publisher(cluster_url, name="failover-publisher").start()
        publisher.publish(_requests(0, 1), timeout=60)
        wait_for(lambda: "id-0" in handled, timeout=60, message="an event published after the kill")
    finally:
        consumer.stop()
        thread.join(30)
        if publisher is not None:
            publisher.close()
        cluster.start_node(node)
