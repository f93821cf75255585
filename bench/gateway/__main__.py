"""`python -m bench.gateway`: POST /v1/generations (confirmed publish + durable write) vs bare Flask.

Both run under the same gunicorn settings (GATEWAY_WORKERS, GATEWAY_CONNECTIONS;
gevent workers), in one run, against the same closed-loop load: N keep-alive
clients, at each load level of BENCH_CONCURRENCY (default ``16,64``). After a
warm-up of each, the two are measured in alternating rounds (ROUNDS rounds of
DURATION seconds each), so a noisy neighbour slowing the machine for a while hits
both sides instead of one. Starts its own SecantusDB and uses a fresh vhost.

Prints each round, per load level the totals, p50/p99, the CPU time each side
costs per request by process (gunicorn workers, MongoDB, RabbitMQ, the load
generator: on a small machine where all share the cores, that says where the
difference comes from) and the level's ratio (median of its rounds' ratios).
The last line, ``ratio=``, is the ratio at the highest level: throughput is
compared where both sides are saturated. The bare endpoint is saturated from 16
clients on; the gateway's requests mostly wait (confirm, durable write), so it
needs more requests in flight to use the CPU. The lower level shows the cost of
those waits when clients are few.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Callable

import psutil

from bench.gateway.load import combined, run_load
from services.common import topology
from tests.support.broker import fresh_vhost, queue_depth, wait_for_broker
from tests.support.mongo import EmbeddedMongo, free_port
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for

DURATION = float(os.environ.get("BENCH_DURATION", "6"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LEVELS = [int(level) for level in os.environ.get("BENCH_CONCURRENCY", "16,64").split(",")]
WORKERS = os.environ.get("GATEWAY_WORKERS", "2")
CONNECTIONS = os.environ.get("GATEWAY_CONNECTIONS", "100")


def _serve(module: str, env: dict[str, str]) -> tuple[ServiceProcess, str]:
    bind = f"127.0.0.1:{free_port()}"
    process = ServiceProcess(module, {**env, "GATEWAY_BIND": bind}).start()
    host, port = bind.split(":")
    import http.client

    def up() -> bool:
        connection = http.client.HTTPConnection(host, int(port), timeout=2)
        try:
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return True
        except OSError:
            return not process.running
        finally:
            connection.close()

    wait_for(up, timeout=60, message=f"{module} up")
    if not process.running:
        raise SystemExit(f"{module} did not start:\n{process.log()[-3000:]}")
    return process, bind


def cpu_seconds(groups: dict[str, Callable[[], list[psutil.Process]]]) -> Counter:
    """CPU seconds (user + system) used so far by each group of processes."""
    totals: Counter = Counter()
    for name, processes in groups.items():
        for process in processes():
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            totals[name] += times.user + times.system
    return totals


def _tree(pid: int) -> Callable[[], list[psutil.Process]]:
    root = psutil.Process(pid)
    return lambda: [root, *root.children(recursive=True)]


def _rabbitmq() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "beam.smp"]


def _cpu_line(name: str, used: dict[str, float], requests: int) -> str:
    parts = " ".join(f"{group}={seconds / max(requests, 1) * 1e6:.0f}" for group, seconds in used.items())
    return f"{name:8s} cpu us/request: {parts} total={sum(used.values()) / max(requests, 1) * 1e6:.0f}"


def _line(name: str, result: dict) -> str:
    return (f"{name:8s} requests={result['ok']} errors={result['errors']} rps={result['rps']:.0f} "
            f"p50={result['p50'] * 1000:.1f}ms p99={result['p99'] * 1000:.1f}ms")


def main() -> int:
    wait_for_broker()
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp, fresh_vhost("bench") as url:
        mongo = EmbeddedMongo(Path(tmp) / "data").start()
        env = {"RABBITMQ_URL": url, "MONGO_URI": mongo.uri, "MONGO_DB": "bench", "LOG_LEVEL": "WARNING",
               "GATEWAY_WORKERS": WORKERS, "GATEWAY_CONNECTIONS": CONNECTIONS}
        processes = []
        try:
            bare, bare_bind = _serve("bench.gateway.bare", env)
            gateway, gateway_bind = _serve("services.gateway", env)
            processes += [bare, gateway]
            shared = {"mongodb": _tree(mongo.process.pid), "rabbitmq": _rabbitmq, "load": lambda: [psutil.Process()]}
            sides = {"bare": (bare_bind, {"server": _tree(bare.process.pid), **shared}),
                     "gateway": (gateway_bind, {"server": _tree(gateway.process.pid), **shared})}
            for bind in (bare_bind, gateway_bind):
                run_load(bind, LEVELS[0], 2.0)  # warm-up
            before = queue_depth(url, topology.RUNNER_GENERATIONS.name)
            accepted = 0
            for clients in LEVELS:
                ratio, gateway_result = _measure_level(sides, clients)
                accepted += gateway_result["ok"]
            queued = queue_depth(url, topology.RUNNER_GENERATIONS.name) - before
        finally:
            for process in processes:
                process.kill()
            mongo.stop()
    print(f"events queued during the gateway runs={queued} (202 answers={accepted})")
    print(f"ratio={ratio:.2f}")
    return 0 if queued == accepted else 1


def _measure_level(sides: dict, clients: int) -> tuple[float, dict]:
    """Alternating rounds at one load level; prints them and the level's summary. (ratio, gateway totals)."""
    cpu = {side: Counter() for side in sides}

    def measured(side: str) -> dict:
        bind, groups = sides[side]
        before = cpu_seconds(groups)
        result = run_load(bind, clients, DURATION)
        cpu[side].update(cpu_seconds(groups) - before)
        return result

    rounds = []
    for number in range(1, ROUNDS + 1):
        bare_round = measured("bare")
        gateway_round = measured("gateway")
        rounds.append((bare_round, gateway_round))
        print(f"clients={clients} round {number}: bare rps={bare_round['rps']:.0f} "
              f"gateway rps={gateway_round['rps']:.0f} ratio={gateway_round['rps'] / bare_round['rps']:.2f}",
              flush=True)
    bare_result = combined([bare for bare, _ in rounds])
    gateway_result = combined([gateway for _, gateway in rounds])
    ratio = statistics.median(gateway["rps"] / bare["rps"] for bare, gateway in rounds)
    print(f"gunicorn gevent workers={WORKERS} connections={CONNECTIONS} clients={clients} "
          f"rounds={ROUNDS} x {DURATION:.0f}s each")
    print(_line("bare", bare_result))
    print(_line("gateway", gateway_result))
    print(_cpu_line("bare", cpu["bare"], bare_result["ok"]))
    print(_cpu_line("gateway", cpu["gateway"], gateway_result["ok"]))
    print(f"clients={clients} ratio={ratio:.2f}", flush=True)
    return ratio, gateway_result


if __name__ == "__main__":
    sys.exit(main())
