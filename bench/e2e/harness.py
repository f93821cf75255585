"""Everything the bench runs on, started here and stopped here: SecantusDB in a temp dir, a fresh vhost,
and the whole system (emulator, store, runner, gateway, webhooks) as real processes, plus the bench's own
subscription to the store's events.recorded (bench/e2e/durable.py)."""
from __future__ import annotations

import json
import signal
import subprocess
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator

import requests

from bench.e2e.durable import Announcements
from bench.e2e.workload import DATABASE
from tests.support.broker import fresh_vhost, wait_for_broker
from tests.support.mongo import EmbeddedMongo
from tests.support.processes import ServiceProcess
from tests.support.system import System

SERVICES = ("emulator", "store", "runner", "gateway", "webhooks")


class Bench:
    """The running system plus the URIs the measurements need; ``broker_pids``: the RabbitMQ node(s) it
    runs on, for the CPU table (the machine's own node is shared with every other user of it)."""

    def __init__(self, system: System, url: str, mongo: EmbeddedMongo, announcements: Announcements,
                 broker_pids: dict[str, int] | None = None) -> None:
        self.system, self.url, self.mongo, self.announcements = system, url, mongo, announcements
        self.broker_pids = broker_pids or {}

    @property
    def mongo_uri(self) -> str:
        return self.mongo.uri

    def pids(self) -> dict[str, int]:
        pids = {name: p.process.pid for name, p in self.system.processes.items() if p.process}
        if self.mongo.process:
            pids["secantusdb"] = self.mongo.process.pid
        return {**pids, **self.broker_pids}

    @property
    def emulator_url(self) -> str:
        return self.system.emulator_url

    @property
    def gateway_url(self) -> str:
        return self.system.gateway_url

    def configure_emulator(self, **knobs: Any) -> dict[str, Any]:
        response = requests.put(f"{self.emulator_url}/_emulator/config", json=knobs, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset_emulator_stats(self) -> None:
        requests.post(f"{self.emulator_url}/_emulator/stats/reset", timeout=10).raise_for_status()

    def emulator_tool_calls(self) -> dict[str, dict[str, Any]]:
        response = requests.get(f"{self.emulator_url}/_emulator/toolcalls", timeout=60)
        response.raise_for_status()
        return response.json()["tool_calls"]

    def emulator_stats(self) -> dict[str, Any]:
        return requests.get(f"{self.emulator_url}/_emulator/stats", timeout=10).json()

    def log_sizes(self) -> dict[str, int]:
        return {name: Path(p.log_path).stat().st_size for name, p in self.system.processes.items()}

    def broker_disruptions(self, since: dict[str, int]) -> list[str]:
        """When the services logged a lost broker connection after ``since`` (RabbitMQ is shared: another
        user's test may stop it). A measurement that saw any is disturbed."""
        times = []
        for name, process in self.system.processes.items():
            with open(process.log_path, "rb") as log:
                log.seek(since.get(name, 0))
                lines = log.read().decode(errors="replace").splitlines()
            times += [_log_time(line) for line in lines
                      if "broker connection lost" in line or "broker connection down" in line]
        return sorted(times)

    def check_alive(self) -> None:
        """Fail loudly if a service died during the run (its log tail says why)."""
        for name, process in self.system.processes.items():
            if not process.running:
                raise RuntimeError(f"{name} exited with {process.process.returncode}:\n{process.log()[-3000:]}")


def _log_time(line: str) -> str:
    try:
        return str(json.loads(line)["time"])
    except (ValueError, KeyError, TypeError):
        return "?"


def _stop(process: ServiceProcess, timeout: float = 15.0) -> None:
    """SIGTERM (graceful), SIGKILL after ``timeout``; then remove its log file."""
    if process.running:
        process.process.send_signal(signal.SIGTERM)
        try:
            process.process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    Path(process.log_path).unlink(missing_ok=True)


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _hold_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def default_node_pids() -> dict[str, int]:
    """The machine's RabbitMQ node, from its pid file (absent: not in the CPU table)."""
    files = list(Path("/var/lib/rabbitmq/mnesia").glob("*.pid"))
    try:
        return {"rabbitmq": int(files[0].read_text().strip())} if len(files) == 1 else {}
    except (OSError, ValueError):
        return {}


@contextmanager
def running_system(*, concurrency: int, emulator_args: tuple[str, ...] = (), broker_url: str | None = None,
                   broker_pids: dict[str, int] | None = None, env: dict[str, str] | None = None) -> Iterator[Bench]:
    """Start everything; on exit (also on Ctrl-C, SIGTERM or an error) stop it and delete the vhost and data.

    ``broker_url``: run on that broker's vhost (e.g. a cluster's, every node listed) instead of a fresh
    vhost of the machine's node; ``env``: more settings for every service."""
    # Ctrl-C and SIGTERM both unwind through the cleanup below (SIGINT explicitly: a shell starts
    # background jobs with SIGINT ignored, and Python keeps that).
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    started: list[ServiceProcess] = []
    try:
        with ExitStack() as stack:
            wait_for_broker()
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-e2e-")))
            url = broker_url or stack.enter_context(fresh_vhost("bench-e2e"))
            mongo = EmbeddedMongo(tmp / "data")
            stack.callback(mongo.stop)
            mongo.start()

            def start(module: str, env: dict[str, str], *args: str, name: str | None = None) -> ServiceProcess:
                process = ServiceProcess(module, env, args, name=name).start()
                started.append(process)
                return process

            stack.callback(lambda: [_stop(p) for p in reversed(started)])
            announcements = Announcements(url)  # bound before anything is published on the vhost
            stack.callback(announcements.stop)  # bounded: joins its thread for at most 5 s
            announcements.start()
            stack.callback(_hold_signals)  # runs first on the way out: cleanup is bounded, let it finish
            settings = {"RABBITMQ_URL": url, "MONGO_URI": mongo.uri, "MONGO_DB": DATABASE, "LOG_LEVEL": "WARNING",
                        "RUNNER_CONCURRENCY": str(concurrency), **(env or {})}
            system = System(env=settings, start_service=start,
                            emulator_args=("--log-level", "WARNING", *emulator_args))
            try:
                for name in SERVICES:
                    system.start(name)
                yield Bench(system, url, mongo, announcements,
                            default_node_pids() if broker_pids is None else broker_pids)
            except Exception:
                for process in started:  # before the logs are deleted
                    print(f"----- last lines of {process.name}'s log -----\n{process.log()[-2000:]}")
                raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
