"""Three extra RabbitMQ nodes of one cluster for a test session (scripts/rabbitmq_cluster.py).

The machine's default node is never touched: the nodes have their own names,
ports and directories under a fresh temporary directory, removed afterwards.
``RABBITMQ_CLUSTER_DIR`` names a cluster already started with
``scripts/rabbitmq_cluster.py start DIR`` to use instead (left running).
Each test gets its own vhost on the cluster.
"""
from __future__ import annotations

import os
import shutil
import uuid
from typing import Iterator

import pytest

from scripts.rabbitmq_cluster import Cluster  # the repository root is on sys.path (tests is a package)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    if os.environ.get("RABBITMQ_CLUSTER_DIR"):
        yield Cluster.load(os.environ["RABBITMQ_CLUSTER_DIR"])
        return
    if shutil.which("rabbitmq-server") is None:
        pytest.skip("rabbitmq-server is not installed: no cluster on this machine")
    # Not under pytest's tmp_path: its parent is private to root and the nodes run as the rabbitmq user.
    started = Cluster.create()
    try:
        yield started.start()
    finally:
        started.stop()


@pytest.fixture
def cluster_url(cluster: Cluster) -> Iterator[str]:
    """RABBITMQ_URL listing every node of the cluster, on a vhost only this test uses."""
    vhost = f"test-{uuid.uuid4().hex[:12]}"
    url = cluster.add_vhost(vhost)
    try:
        yield url
    finally:
        cluster.delete_vhost(vhost)
