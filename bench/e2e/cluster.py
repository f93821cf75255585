"""The broker a bench run uses: the machine's node (a fresh vhost, by ``running_system``) or a three-node
RabbitMQ cluster started for the run by scripts/rabbitmq_cluster.py (its own node names, ports and
directories beside the machine's node, which it never touches), stopped and removed afterwards."""
from __future__ import annotations

import signal
import uuid
from contextlib import contextmanager
from typing import Iterator, NamedTuple

from scripts.rabbitmq_cluster import Cluster

NODES = 3


class Broker(NamedTuple):
    url: str | None  # None: a fresh vhost on the machine's node
    pids: dict[str, int] | None  # for the CPU table (None: the machine's node, if its pid file is readable)
    env: dict[str, str]  # more settings for every service


ONE_NODE = Broker(None, None, {})


@contextmanager
def three_nodes() -> Iterator[Broker]:
    """A fresh three-node cluster and a vhost on it; every work queue with a member on each node
    (``RABBITMQ_QUORUM_GROUP_SIZE``), leaders spread (docs/operations.md)."""
    # SIGTERM unwinds through the finally below, as in running_system (a cluster left behind would
    # keep three nodes running).
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    cluster = Cluster.create(size=NODES)
    try:
        cluster.start()
        url = cluster.add_vhost(f"bench-e2e-{uuid.uuid4().hex[:12]}")
        pids = {f"rabbitmq-{index}": node.pid() for index, node in enumerate(cluster.nodes, 1)}
        yield Broker(url, {name: pid for name, pid in pids.items() if pid is not None},
                     {"RABBITMQ_QUORUM_GROUP_SIZE": str(NODES)})
    finally:
        cluster.stop()
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
