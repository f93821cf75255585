"""Every bench still runs to its end at a tiny size (its numbers are not checked here: speed goals live in
BENCHMARKS.md, never in tests). A bench drifting from the code it drives fails here, not on its next use."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BENCHES = {
    "bench.store": (["--generations", "3", "--rounds", "1", "--batch-size", "50"], {}, "ratio="),
    "bench.gateway": ([], {"BENCH_DURATION": "1", "BENCH_ROUNDS": "1", "BENCH_CONCURRENCY": "2"}, "ratio="),
    "bench.backends": ([], {"BENCH_GENERATIONS": "1", "BENCH_THINK_MS": "50", "BENCH_TOKENS_PER_SECOND": "2000"},
                       "assistants end-of-turn"),
    "bench.live": ([], {"BENCH_EVENTS": "3", "BENCH_ROUNDS": "1", "BENCH_IDLE_STREAMS": "1"}, "ratio="),
    "bench.webhooks": ([], {"BENCH_EVENTS": "3", "BENCH_ROUNDS": "1"}, "ratio="),
    "bench.runner": ([], {"BENCH_GENERATIONS": "2"}, "cpu_per_call="),
    "bench.runner.sdk": ([], {"BENCH_GENERATIONS": "1"}, "cpu_per_generation="),
    "bench.e2e": (["--generations", "3", "--concurrency", "2", "--floor-samples", "3", "--probe-generations", "1",
                   "--latency-ms", "0", "--think-ms", "0"], {}, "ratio="),
}


@pytest.mark.parametrize("module", sorted(BENCHES))
def test_the_bench_runs_to_its_summary(module: str) -> None:
    args, env, expected = BENCHES[module]
    finished = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, **env}, timeout=600)
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output[-4000:]
    assert expected in finished.stdout, output[-4000:]
