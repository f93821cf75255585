"""Figures, percentiles and the summary block (plain text, one line per figure, ``ratio=X`` lines)."""
from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass
from typing import Callable, Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Throughput:
    generations: int
    tool_calls: int
    seconds: float

    @property
    def generations_per_s(self) -> float:
        return self.generations / self.seconds

    @property
    def tool_calls_per_s(self) -> float:
        return self.tool_calls / self.seconds


@dataclass(frozen=True)
class Latency:
    samples: tuple[float, ...]  # seconds

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)


@dataclass(frozen=True)
class Phase:
    name: str
    knobs: str
    system: Throughput
    model_alone: Throughput
    tool_call_latency: Latency
    floor: Latency
    runner_part: Latency  # emitted -> the runner built the event
    store_part: Latency  # the runner built the event -> recorded_at
    cpu: dict[str, float]
    unloaded: Latency | None  # the probe: one generation at a time
    notes: tuple[str, ...] = ()
    unloaded_parts: tuple[Latency, Latency] | None = None  # the probe's part 1 and part 2
    # Upper bounds (the store's events.recorded reached the bench: bench/e2e/durable.py); the figures above
    # end at recorded_at, stamped before the durable write is sent, a lower bound.
    announced: Latency | None = None  # emitted -> announced durable, loaded
    unloaded_announced: tuple[Latency, Latency] | None = None  # the probe's: emitted -> and part 2 -> announced


LOWER = "lower bound: recorded_at is stamped as the store builds its write, before the durable write is sent"
UPPER = ("upper bound: the store's first events.recorded covering it reached the bench; sent after the durable "
         "write returned, it adds the store's read-back, its confirmed publish and one broker hop")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms"


def _bounded(label: str, latency: Latency | None, what: str) -> list[str]:
    if latency is None or not latency.samples:
        return [f"{label}: no samples (no events.recorded reached the bench)"] if latency is not None else []
    return [f"{label} p50={_ms(latency.p50)} p99={_ms(latency.p99)} (n={len(latency.samples)}; {what})"]


def _ratios(p: str, label: str, latency: Latency | None, floor: Latency) -> list[str]:
    if latency is None or not latency.samples:
        return []
    return [f"{p} ratio={latency.p50 / floor.p50:.1f} ({label} p50 / floor p50)",
            f"{p} ratio={latency.p99 / floor.p99:.1f} ({label} p99 / floor p99)"]


def phase_lines(phase: Phase) -> list[str]:
    s, m, lat, floor = phase.system, phase.model_alone, phase.tool_call_latency, phase.floor
    p = phase.name
    return [
        f"[{p}] emulator {phase.knobs}",
        f"{p} system generations/s={s.generations_per_s:.2f} ({s.generations} generations in {s.seconds:.1f}s, "
        f"first POST to all terminal and verified-exact in MongoDB)",
        f"{p} model-alone generations/s={m.generations_per_s:.2f} ({m.generations} generations in {m.seconds:.1f}s, "
        f"openai SDK streaming straight to the emulator)",
        f"{p} ratio={s.generations_per_s / m.generations_per_s:.2f} (generations/s, system / model alone)",
        f"{p} system tool calls/s={s.tool_calls_per_s:.1f} ({s.tool_calls} tool calls durable in MongoDB)",
        f"{p} model-alone tool calls/s={m.tool_calls_per_s:.1f} ({m.tool_calls} tool calls answered OK)",
        f"{p} ratio={s.tool_calls_per_s / m.tool_calls_per_s:.2f} (tool calls/s, system / model alone)",
        f"{p} tool-call latency p50={_ms(lat.p50)} p99={_ms(lat.p99)} (n={len(lat.samples)}; emulator made the "
        f"call available -> generation_events.recorded_at; {LOWER})",
        *_bounded(f"{p} tool-call latency to announced durable", phase.announced, UPPER),
        f"{p} floor p50={_ms(floor.p50)} p99={_ms(floor.p99)} (n={len(floor.samples)}; one confirmed publish + "
        f"consume + one w=majority j=true insert, sequential)",
        f"{p} ratio={lat.p50 / floor.p50:.1f} (tool-call latency p50 / floor p50)",
        f"{p} ratio={lat.p99 / floor.p99:.1f} (tool-call latency p99 / floor p99)",
        *_ratios(f"{p}", "tool-call latency to announced durable", phase.announced, floor),
        *([f"{p} unloaded tool-call latency p50={_ms(phase.unloaded.p50)} p99={_ms(phase.unloaded.p99)} "
           f"(n={len(phase.unloaded.samples)}; probe: generations one at a time, no backlog; to recorded_at, "
           f"the lower bound)",
           f"{p} ratio={phase.unloaded.p50 / floor.p50:.1f} (unloaded tool-call latency p50 / floor p50)",
           f"{p} ratio={phase.unloaded.p99 / floor.p99:.1f} (unloaded tool-call latency p99 / floor p99)"]
          if phase.unloaded else []),
        *(_bounded(f"{p} unloaded tool-call latency to announced durable", phase.unloaded_announced[0],
                   "probe; the upper bound") + _ratios(p, "unloaded tool-call latency to announced durable",
                                                       phase.unloaded_announced[0], floor)
          if phase.unloaded_announced else []),
        *([f"{p} unloaded part 1 p50={_ms(phase.unloaded_parts[0].p50)} p99={_ms(phase.unloaded_parts[0].p99)} "
           f"(emulator -> the runner's event time); part 2 p50={_ms(phase.unloaded_parts[1].p50)} "
           f"p99={_ms(phase.unloaded_parts[1].p99)} (the runner's event time -> recorded_at)"]
          if phase.unloaded_parts and phase.unloaded_parts[0].samples else []),
        *(_bounded(f"{p} unloaded part 2 to announced durable", phase.unloaded_announced[1],
                   "the runner's event time -> events.recorded reached the bench")
          if phase.unloaded_announced else []),
        f"{p} tool-call latency part 1 p50={_ms(phase.runner_part.p50)} p99={_ms(phase.runner_part.p99)} "
        f"(emulator made the call available -> the runner's event time)",
        f"{p} tool-call latency part 2 p50={_ms(phase.store_part.p50)} p99={_ms(phase.store_part.p99)} "
        f"(the runner's event time -> recorded_at: confirmed publish, queue, the store up to building its write)",
        f"{p} cpu-seconds in the system run ({s.seconds:.0f}s wall, {os.cpu_count()} CPUs shared with others): "
        + " ".join(f"{name}={used:.1f}" for name, used in sorted(phase.cpu.items(), key=lambda kv: -kv[1])),
        *(f"{p} note: {note}" for note in phase.notes),
    ]


def summary(command: str, header: str, phases: Sequence[Phase]) -> str:
    lines = ["----- bench.e2e summary (paste into BENCHMARKS.md) -----", f"command: {command}", header]
    for phase in phases:
        lines += phase_lines(phase)
    lines.append("----- end of summary -----")
    return "\n".join(lines)


def _pair(latency: Latency | None) -> str:
    return f"{_ms(latency.p50)} / {_ms(latency.p99)}" if latency and latency.samples else "-"


def side_by_side(columns: Sequence[tuple[str, Sequence[Phase]]]) -> str:
    """A Markdown table of the same phases measured on different brokers in one run (``columns``:
    heading, its phases in the same order)."""
    def cpu(phase: Phase) -> str:
        return " ".join(f"{name}={used:.1f}" for name, used in sorted(phase.cpu.items(), key=lambda kv: -kv[1]))

    rows: list[tuple[str, Callable[[Phase], str]]] = [
        ("generations/s, system (model alone)",
         lambda f: f"{f.system.generations_per_s:.2f} ({f.model_alone.generations_per_s:.2f})"),
        ("ratio, system / model alone",
         lambda f: f"{f.system.generations_per_s / f.model_alone.generations_per_s:.2f}"),
        ("tool-call latency p50 / p99 (to recorded_at: lower bound)",
         lambda f: f"{_ms(f.tool_call_latency.p50)} / {_ms(f.tool_call_latency.p99)}"),
        ("tool-call latency p50 / p99 (to announced durable: upper bound)", lambda f: _pair(f.announced)),
        ("unloaded latency p50 / p99 (to recorded_at: lower bound)",
         lambda f: f"{_ms(f.unloaded.p50)} / {_ms(f.unloaded.p99)}" if f.unloaded else "-"),
        ("unloaded latency p50 / p99 (to announced durable: upper bound)",
         lambda f: _pair(f.unloaded_announced[0] if f.unloaded_announced else None)),
        ("floor p50 / p99", lambda f: f"{_ms(f.floor.p50)} / {_ms(f.floor.p99)}"),
        ("part 1 p50 (emulator -> runner's event)", lambda f: _ms(f.runner_part.p50)),
        ("cpu-seconds in the system run", lambda f: f"{cpu(f)} ({f.system.seconds:.0f}s wall)"),
    ]
    lines = ["| phase | figure | " + " | ".join(heading for heading, _ in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for index, first in enumerate(columns[0][1]):
        for label, cell in rows:
            lines.append(f"| {first.name.split('/')[0]} | {label} | "
                         + " | ".join(cell(phases[index]) for _, phases in columns) + " |")
    return "\n".join(lines)


def report_rounds(path: str, rounds: Sequence[tuple[Sequence[float], Sequence[float]]], goal_p99: float
                  ) -> tuple[float, float]:
    """Print each round's p50/p99 of ``path`` (seconds per event) beside its floor (the broker hop to a
    plain AMQP subscriber), then the medians over the rounds; return the median p99s (path, floor)."""
    figures = []
    for n, (to_path, to_floor) in enumerate(rounds, start=1):
        figures.append((percentile(to_path, 50), percentile(to_path, 99),
                        percentile(to_floor, 50), percentile(to_floor, 99)))
        print(f"round {n}: {path} p50={figures[-1][0] * 1e3:.1f}ms p99={figures[-1][1] * 1e3:.1f}ms; "
              f"floor (durable->AMQP subscriber) p50={figures[-1][2] * 1e3:.1f}ms "
              f"p99={figures[-1][3] * 1e3:.1f}ms (n={len(to_path)})")
    p50, p99, floor50, floor99 = (statistics.median(r[i] for r in figures) for i in range(4))
    print(f"median over {len(rounds)} rounds: {path} p50={p50 * 1e3:.1f}ms p99={p99 * 1e3:.1f}ms; "
          f"floor p50={floor50 * 1e3:.1f}ms p99={floor99 * 1e3:.1f}ms; p99 ratio={p99 / floor99:.1f}x "
          f"(goal p99 < {goal_p99 * 1e3:g} ms: {'met' if p99 < goal_p99 else 'NOT met'})")
    return p99, floor99
