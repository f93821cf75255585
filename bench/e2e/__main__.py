"""`python -m bench.e2e`: generations end to end through the whole system, next to the model API's ceiling
and the broker + database floor, measured in the same run.

Starts its own SecantusDB (temp dir), a fresh RabbitMQ vhost and every service as a real process
(emulator, store, runner, gateway, webhook deliverer). Per phase (emulator knobs set at runtime):

1. floor: confirmed publish + consume + durable insert, one at a time (p50/p99);
2. model alone: N generations with the openai SDK straight against the emulator (C threads);
3. system: N POST /v1/generations (C client threads; the runner drives up to C at once), wait until every
   generation is terminal in MongoDB, verify every recipe exactly (anything lost, doubled or failed makes
   the bench fail), join each tool call's emission time (emulator) with its recorded_at (store; stamped
   before the durable write is sent: a lower bound) and with the arrival of the store's first
   events.recorded covering it (sent after the durable write: an upper bound; bench/e2e/durable.py).

Phases: "fast" (latency 0, think 0: the system's own costs dominate) and "realistic" (--latency-ms per
request, --think-ms per model turn). ``--cluster``: every phase on the machine's RabbitMQ node, then again
on a three-node cluster started for the run (``bench/e2e/cluster.py``), and the two side by side.
Everything it started is stopped on exit, Ctrl-C or error.
"""
from __future__ import annotations

import argparse
import os
from contextlib import contextmanager
from typing import Iterator
import shlex
import subprocess
import sys
import time

from bench.e2e import baselines
from bench.e2e.cluster import ONE_NODE, Broker, three_nodes
from bench.e2e.harness import running_system
from bench.e2e.load import probe, run_system
from bench.e2e.workload import BenchFailure
from bench.e2e.report import Latency, Phase, Throughput, phase_lines, side_by_side, summary
from tests.support.processes import ROOT


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=1000, help="generations per measurement (default 1000)")
    parser.add_argument("--concurrency", type=int, default=50,
                        help="client POST threads = RUNNER_CONCURRENCY = model-alone threads (default 50)")
    parser.add_argument("--latency-ms", type=int, default=200, help="realistic phase: added to every /v1 request")
    parser.add_argument("--think-ms", type=int, default=500, help="realistic phase: per model turn")
    parser.add_argument("--floor-samples", type=int, default=300, help="floor round trips per phase")
    parser.add_argument("--probe-generations", type=int, default=10,
                        help="per phase, generations run one at a time for the unloaded latency (0: skip)")
    parser.add_argument("--phases", default="fast,realistic", help="comma-separated: fast, realistic")
    parser.add_argument("--cluster", action="store_true",
                        help="run every phase on the machine's node, then on a three-node RabbitMQ cluster started "
                             "for the run (scripts/rabbitmq_cluster.py; stopped after), and compare them")
    args = parser.parse_args(argv)
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if not args.phases or set(args.phases) - {"fast", "realistic"}:
        parser.error("--phases takes fast and/or realistic")
    if args.generations < 1 or args.concurrency < 1 or args.floor_samples < 1 or args.probe_generations < 0:
        parser.error("--generations, --concurrency and --floor-samples must be at least 1")
    return args


def command_line(args: argparse.Namespace) -> str:
    return (f".venv/bin/python -m bench.e2e --generations {args.generations} --concurrency {args.concurrency} "
            f"--latency-ms {args.latency_ms} --think-ms {args.think_ms} --floor-samples {args.floor_samples} "
            f"--probe-generations {args.probe_generations} "
            f"--phases {shlex.quote(','.join(args.phases))}" + (" --cluster" if args.cluster else ""))


def checkout() -> str:
    """The commit measured, and whether the services' working tree differed from it."""
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = sorted({line[3:].split("/")[1] for line in git("status", "--porcelain", "services").splitlines()
                    if line[3:].startswith("services/") and "/" in line[3:]})
    return f"commit {commit}" + (f" + uncommitted changes in services/{{{','.join(dirty)}}}" if dirty else "")


def disturbed(part: str, times: list[str]) -> list[str]:
    if not times:
        return []
    return [f"DISTURBED {part}: the services logged {len(times)} lost broker connections ({times[0]} .. "
            f"{times[-1]}; the shared RabbitMQ was stopped by someone else?): do not quote its figures"]


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def measure_phase(bench, name: str, knobs: dict[str, int], args: argparse.Namespace, label: str = "") -> Phase:
    bench.configure_emulator(**knobs)
    knob_text = " ".join(f"{k}={v}" for k, v in knobs.items())
    say(f"[{name}] emulator {knob_text}; floor ({args.floor_samples} round trips)")
    floor, floor_lost = baselines.floor(bench.url, bench.mongo_uri, args.floor_samples)
    notes = [f"the floor was measured again {floor_lost} time(s): the broker went away"] if floor_lost else []
    say(f"[{name}] model alone: {args.generations} generations, {args.concurrency} threads")
    calls, seconds = baselines.model_alone(bench.emulator_url, name, args.generations, args.concurrency)
    alone = Throughput(args.generations, calls, seconds)
    say(f"[{name}]   {alone.generations_per_s:.2f} generations/s")
    say(f"[{name}] system: {args.generations} generations through the gateway")
    logs = bench.log_sizes()
    run = run_system(bench, name, args.generations, args.concurrency)
    notes += disturbed("system run", bench.broker_disruptions(logs))
    system = Throughput(len(run.prompts), run.tool_calls, run.seconds)
    say(f"[{name}]   {system.generations_per_s:.2f} generations/s; every recipe verified exact")
    unloaded, parts, unloaded_announced = None, None, None
    if args.probe_generations:
        say(f"[{name}] probe: {args.probe_generations} generations one at a time")
        logs = bench.log_sizes()
        probed = {figure: Latency(tuple(samples))
                  for figure, samples in probe(bench, name, args.probe_generations).items()}
        unloaded, parts = probed["latencies"], (probed["runner_part"], probed["store_part"])
        unloaded_announced = (probed["announced"], probed["announced_part"])
        notes += disturbed("probe", bench.broker_disruptions(logs))
    phase = Phase(name + label, knob_text, system, alone, Latency(run.latencies), Latency(tuple(floor)),
                  Latency(run.runner_part), Latency(run.store_part), run.cpu, unloaded, (*run.notes, *notes), parts,
                  Latency(run.announced), unloaded_announced)
    print("\n".join(phase_lines(phase)), flush=True)  # kept even if a later phase fails
    return phase


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    header = (f"code: {checkout()}\n"
              f"generations={args.generations} per measurement; concurrency={args.concurrency} (client POST threads "
              f"= RUNNER_CONCURRENCY = model-alone threads); 1 runner, 1 store, gateway (GATEWAY_WORKERS="
              f"{os.environ.get('GATEWAY_WORKERS', '2')}), emulator, webhooks; {os.cpu_count()} CPUs, shared; "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    knobs = {"fast": {"latency_ms": 0, "think_ms": 0},
             "realistic": {"latency_ms": args.latency_ms, "think_ms": args.think_ms}}
    started = time.monotonic()
    phases: list[Phase] = []
    columns: list[tuple[str, list[Phase]]] = []
    try:
        for heading, label, broker in [("one node", "", ONE_NODE)] + ([("three nodes", "/3-node", None)]
                                                                       if args.cluster else []):
            columns.append((heading, []))
            with (three_nodes() if broker is None else _given(broker)) as used:
                say(f"starting SecantusDB, a vhost on {heading} and the system")
                with running_system(concurrency=args.concurrency, broker_url=used.url, broker_pids=used.pids,
                                    emulator_args=("--latency-ms", "0", "--think-ms", "0"), env=used.env) as bench:
                    for name in args.phases:
                        columns[-1][1].append(measure_phase(bench, name, knobs[name], args, label))
                    say("stopping everything")
            phases += columns[-1][1]
    except BenchFailure as failure:
        print(f"BENCH FAILED: {failure}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        return 130
    say(f"done in {time.monotonic() - started:.0f}s")
    print(summary(command_line(args), header, phases))
    if args.cluster:
        print("----- one node and three-node cluster, same run (Markdown) -----")
        print(side_by_side(columns))
    return 0


@contextmanager
def _given(broker: Broker) -> Iterator[Broker]:
    yield broker


if __name__ == "__main__":
    sys.exit(main())
