"""A RabbitMQ cluster of three extra nodes on this machine, beside (never touching) the default node.

    python scripts/rabbitmq_cluster.py start [DIR]   # prints RABBITMQ_URL for the cluster's vhost
    python scripts/rabbitmq_cluster.py stop [DIR]    # kills the nodes, removes DIR; idempotent

Each node has its own node name, AMQP and distribution ports, data and log
directories, an empty plugins file (or two nodes fight over the plugins'
ports) and ``loopback_users = none`` (guest from 127.0.0.1 on any port): the
commands of ../shared/reference/rabbitmq-cluster-on-one-machine.md. Node names
and ports are chosen at start and kept in DIR/cluster.json, so several clusters
(other sessions' tests) can run at once. ``rabbitmqctl`` is only ever run with
``-n`` one of these nodes.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

STATE = "cluster.json"
VHOST = "cluster"
NODES = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Node:
    name: str  # e.g. rc1a2b3c-1@localhost
    port: int
    dist_port: int
    home: str

    def env(self) -> dict[str, str]:
        return {**os.environ,
                "RABBITMQ_NODENAME": self.name, "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_MNESIA_BASE": f"{self.home}/mnesia", "RABBITMQ_LOG_BASE": f"{self.home}/log",
                "RABBITMQ_ENABLED_PLUGINS_FILE": f"{self.home}/enabled_plugins",
                "RABBITMQ_CONFIG_FILE": f"{self.home}/rabbitmq.conf", "RABBITMQ_PID_FILE": f"{self.home}/pid"}

    def pid(self) -> int | None:
        try:
            return int(Path(self.home, "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    @property
    def running(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True


def _prepare(node: Node) -> None:
    Path(node.home, "mnesia").mkdir(parents=True, exist_ok=True)
    Path(node.home, "log").mkdir(parents=True, exist_ok=True)
    Path(node.home, "enabled_plugins").write_text("[].\n")
    Path(node.home, "rabbitmq.conf").write_text(f"listeners.tcp.default = {node.port}\nloopback_users = none\n")


@dataclass
class Cluster:
    base: str
    nodes: list[Node] = field(default_factory=list)
    vhost: str = VHOST

    # -- set-up and tear-down -----------------------------------------------------------

    @classmethod
    def create(cls, base: str | None = None, size: int = NODES) -> "Cluster":
        base = base or tempfile.mkdtemp(prefix="rabbitmq-cluster-")
        tag = uuid.uuid4().hex[:6]
        nodes = [Node(f"rc{tag}-{i}@localhost", _free_port(), _free_port(), f"{base}/{i}") for i in range(1, size + 1)]
        cluster = cls(base, nodes)
        for node in nodes:
            _prepare(node)
        # The server script switches to the rabbitmq user, which must own the node's directories.
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", base], check=False)
        cluster.save()
        return cluster

    @classmethod
    def load(cls, base: str) -> "Cluster":
        state = json.loads(Path(base, STATE).read_text())
        return cls(state["base"], [Node(**node) for node in state["nodes"]], state["vhost"])

    def save(self) -> None:
        Path(self.base, STATE).write_text(json.dumps(asdict(self), indent=1))

    def start(self, timeout: float = 120.0) -> "Cluster":
        for node in self.nodes:
            self.start_node(node, wait=False)
        for node in self.nodes:
            self.await_node(node, timeout)
        first, *others = self.nodes
        for node in others:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app")
        self.ctl(first, "add_vhost", self.vhost, check=False)
        self.ctl(first, "set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        return self

    def stop(self) -> None:
        """Kill every node and remove the directory; nothing left behind, safe to call twice."""
        for node in self.nodes:
            self.kill(node)
        shutil.rmtree(self.base, ignore_errors=True)

    def add_node(self, timeout: float = 120.0) -> Node:
        """A new node started on its own, not yet in the cluster (join it with ``join_cluster``)."""
        tag = self.nodes[0].name.split("-")[0]
        number = max(int(node.home.rsplit("/", 1)[1]) for node in self.nodes) + 1
        node = Node(f"{tag}-{number}@localhost", _free_port(), _free_port(), f"{self.base}/{number}")
        _prepare(node)
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", node.home], check=False)
        self.nodes.append(node)
        self.save()
        self.start_node(node, timeout=timeout)
        return node

    def remove_node(self, node: Node) -> None:
        """Kill ``node`` and delete its data; the caller has made the cluster forget it."""
        self.kill(node)
        self.nodes.remove(node)
        self.save()
        shutil.rmtree(node.home, ignore_errors=True)

    # -- one node -------------------------------------------------------------------------

    def start_node(self, node: Node, wait: bool = True, timeout: float = 120.0) -> None:
        """Start (or restart after a kill: it rejoins the cluster by itself) one node."""
        subprocess.run(["rabbitmq-server", "-detached"], env=node.env(), check=True, capture_output=True)
        if wait:
            self.await_node(node, timeout)

    def await_node(self, node: Node, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # await_startup fails until the node registered with epmd: retry it.
        while (self.ctl(node, "await_startup", "--timeout", "5", check=False).returncode != 0
               or not _reachable(node.port)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.name} did not start; see {node.home}/log")
            time.sleep(1)

    def kill(self, node: Node) -> None:
        """kill -9 the node (its beam process) and wait until it is gone."""
        pid = node.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while node.running and time.monotonic() < deadline:
            time.sleep(0.1)

    def ctl(self, node: Node, *args: str, check: bool = True, timeout: float = 60,
            tool: str = "rabbitmqctl") -> subprocess.CompletedProcess:
        """``tool`` (rabbitmqctl, rabbitmq-queues, rabbitmq-upgrade, ...) run against ``node`` only."""
        return subprocess.run([tool, "-n", node.name, *args], capture_output=True, text=True,
                              check=check, timeout=timeout)

    # -- what the tests read ----------------------------------------------------------------

    def add_vhost(self, vhost: str) -> str:
        """Create ``vhost`` (guest may use it); its RABBITMQ_URL."""
        node = next(node for node in self.nodes if node.running)
        self.ctl(node, "add_vhost", vhost, check=False)
        self.ctl(node, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        return self.url(vhost=vhost)

    def delete_vhost(self, vhost: str) -> None:
        node = next((node for node in self.nodes if node.running), None)
        if node is not None:
            self.ctl(node, "delete_vhost", vhost, check=False)

    def url(self, nodes: list[Node] | None = None, vhost: str | None = None) -> str:
        """RABBITMQ_URL for the cluster's vhost (or ``vhost``): every node (or ``nodes``), comma-separated."""
        vhost = quote(vhost or self.vhost, safe="")
        return ",".join(f"amqp://guest:guest@127.0.0.1:{node.port}/{vhost}" for node in nodes or self.nodes)

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def leaders(self, vhost: str | None = None) -> dict[str, str]:
        """Queue name -> the node that leads it, asked of a running node."""
        for node in self.nodes:
            if not node.running:
                continue
            listing = self.ctl(node, "list_queues", "-p", vhost or self.vhost, "name", "leader",
                               "--no-table-headers", "-q", check=False)
            if listing.returncode == 0:
                return dict(line.split("\t")[:2] for line in listing.stdout.splitlines() if "\t" in line)
        raise RuntimeError("no running node answered list_queues")


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or argv[1] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    base = argv[2] if len(argv) == 3 else os.path.join(tempfile.gettempdir(), "rabbitmq-cluster")
    if argv[1] == "start":
        if Path(base, STATE).exists():
            cluster = Cluster.load(base)
            if all(node.running for node in cluster.nodes):
                print(cluster.url())
                return 0
            cluster.stop()
        Path(base).mkdir(parents=True, exist_ok=True)
        print(Cluster.create(base).start().url())
        return 0
    if Path(base, STATE).exists():
        Cluster.load(base).stop()
    else:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
