"""On the cluster, RABBITMQ_QUORUM_GROUP_SIZE spreads the work queues: that many members each, leaders balanced."""
import pika

from services.common import amqp, topology


def _members(cluster, vhost: str) -> dict[str, tuple[str, list[str]]]:
    node = next(n for n in cluster.nodes if n.running)
    listing = cluster.ctl(node, "list_queues", "-p", vhost, "name", "leader", "members",
                          "--no-table-headers", "-q").stdout
    rows = (line.split("\t") for line in listing.splitlines() if line)
    return {name: (leader, members.strip("[]").split(", ")) for name, leader, members in rows}


def test_work_queues_have_group_size_members_and_leaders_on_more_than_one_node(cluster, cluster_url):
    connection = pika.BlockingConnection(amqp.connection_parameters(cluster_url))
    try:
        topology.declare(connection.channel(), topology.WORK_QUEUES, delivery_limit=20, group_size=2)
    finally:
        connection.close()
    queues = _members(cluster, amqp.virtual_host(cluster_url))
    work = [spec.name for spec in topology.WORK_QUEUES] + [spec.dead_letter_queue for spec in topology.WORK_QUEUES]
    assert all(len(queues[name][1]) == 2 for name in work), queues
    assert len({queues[name][0] for name in work}) > 1, queues  # not every leader on one node
