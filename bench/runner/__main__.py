"""`python -m bench.runner`: the runner's own cost per tool call, and per concurrent generation.

``python -m services.runner`` runs as a real process against the emulator (think 0, so the model
is never the wait) and a fresh vhost and SecantusDB. For each backend, BENCH_GENERATIONS seed
generations are requested at once; the runner's CPU time (utime + stime from /proc, every thread)
over that burst, divided by the tool calls made, is its cost per call: checking the call, building
its event, publishing it with its confirm, plus its share of the turn's model API requests and
runner_runs writes. Threads and RSS are read at the end of the burst, with every generation's
worker still alive. A floor measured in the same run: the CPU of an idle runner over the same
wall time (probes, heartbeats, the consumer's tick).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


from bench.runner import answers, instant_emulator
from services.common import schemas
from tests.runner.helpers import DELIVERY_LIMIT, SEED_INSTRUCTIONS, SEED_PROMPT, Pipeline
from tests.support.broker import fresh_vhost, wait_for_broker
from tests.support.mongo import EmbeddedMongo, free_port
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for

GENERATIONS = int(os.environ.get("BENCH_GENERATIONS", "100"))
BACKENDS = ("responses", "assistants")
CALLS_PER_SEED = 29  # addRecipe, 19 addIngredient, 9 addStep


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def run_backend(backend: str, url: str, mongo_uri: str, emulator: str) -> dict[str, float]:
    probe = free_port()
    env = {"RABBITMQ_URL": url, "MONGO_URI": mongo_uri, "MONGO_DB": f"bench_{backend}", "LOG_LEVEL": "WARNING",
           "MODEL_BACKEND": backend, "OPENAI_BASE_URL": f"{emulator}/v1", "OPENAI_MODEL": "gpt-4.1",
           "RUNNER_CONCURRENCY": str(GENERATIONS), "DELIVERY_LIMIT": str(DELIVERY_LIMIT), "PROBE_PORT": str(probe)}
    with Pipeline(url) as pipe:
        runner = ServiceProcess("services.runner", env, name=f"runner-{backend}").start()
        try:
            wait_for(lambda: answers(f"http://127.0.0.1:{probe}/readyz"), timeout=60, message="the runner ready")
            assert runner.process is not None
            pid = runner.process.pid
            started, cpu = time.monotonic(), _cpu_seconds(pid)
            ids = [pipe.request(SEED_PROMPT, instructions=SEED_INSTRUCTIONS) for _ in range(GENERATIONS)]
            ended = pipe.wait_all_terminal(ids, timeout=600)
            busy_cpu, wall = _cpu_seconds(pid) - cpu, time.monotonic() - started
            threads, rss_kib = _status(pid, "Threads"), _status(pid, "VmRSS")
            completed = sum(ended[gid].type == schemas.GENERATION_COMPLETED for gid in ids)  # this burst's only
            assert completed == GENERATIONS, f"{backend}: {completed} of {GENERATIONS} completed"
            idle_cpu = _cpu_seconds(pid)  # the floor: as long, idle
            time.sleep(wall)  # the measurement window itself
            idle = _cpu_seconds(pid) - idle_cpu
        finally:
            runner.terminate(timeout=30)
    calls = CALLS_PER_SEED * GENERATIONS
    return {"wall": wall, "cpu": busy_cpu, "idle": idle, "per_call_ms": 1000 * (busy_cpu - idle) / calls,
            "threads": threads, "rss_mb": rss_kib / 1024}


def main() -> None:
    wait_for_broker()
    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp, fresh_vhost("bench-runner") as url:
        mongo = EmbeddedMongo(Path(tmp) / "data").start()
        try:
            with instant_emulator() as root:
                results = {backend: run_backend(backend, url, mongo.uri, root) for backend in BACKENDS}
        finally:
            mongo.stop()
    print(f"{GENERATIONS} seed generations at once per backend ({CALLS_PER_SEED * GENERATIONS} tool calls); "
          "runner CPU over the burst minus an idle runner's over as long")
    for backend, r in results.items():
        print(f"{backend:10} wall={r['wall']:6.1f} s cpu={r['cpu']:6.2f} s idle={r['idle']:5.2f} s "
              f"cpu_per_call={r['per_call_ms']:5.2f} ms threads={r['threads']:4.0f} rss={r['rss_mb']:6.1f} MB "
              f"rss_per_generation={r['rss_mb'] / GENERATIONS * 1024:6.0f} KiB")


if __name__ == "__main__":
    main()
