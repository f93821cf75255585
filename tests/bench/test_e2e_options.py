"""bench.e2e's --cluster, without starting a cluster (that takes minutes; test_benches_run.py runs the bench
itself on one node): the option reaches the command line it prints, and the comparison table it prints has a
column per broker and a row per figure of every phase."""
from __future__ import annotations

from bench.e2e.__main__ import command_line, parse_args
from bench.e2e.report import Latency, Phase, Throughput, side_by_side


def _phase(name: str, per_s: float) -> Phase:
    latency = Latency((0.01, 0.02))
    return Phase(name, "latency_ms=0 think_ms=0", Throughput(10, 290, 10 / per_s), Throughput(10, 290, 1.0),
                 latency, latency, latency, latency, {"secantusdb": 1.5, "rabbitmq-1": 0.5}, latency,
                 announced=Latency((0.03, 0.04)))


def test_cluster_is_off_by_default_and_repeated_in_the_printed_command():
    assert not parse_args([]).cluster
    assert command_line(parse_args(["--cluster", "--generations", "5"])).endswith("--cluster")
    assert "--cluster" not in command_line(parse_args([]))


def test_the_comparison_has_a_column_per_broker_and_the_same_rows_for_every_phase():
    table = side_by_side([("one node", [_phase("fast", 5.0), _phase("realistic", 2.0)]),
                          ("three nodes", [_phase("fast/3-node", 4.0), _phase("realistic/3-node", 1.0)])])
    lines = table.splitlines()
    assert lines[0] == "| phase | figure | one node | three nodes |"
    fast = [line for line in lines if line.startswith("| fast |")]
    assert len(fast) == len([line for line in lines if line.startswith("| realistic |")]) > 0
    assert "| fast | ratio, system / model alone | 0.50 | 0.40 |" in lines
    assert any("rabbitmq-1=0.5" in line for line in fast)
    # Both ends of "durable", each saying which bound it is.
    assert ("| fast | tool-call latency p50 / p99 (to recorded_at: lower bound) | 10.0ms / 20.0ms "
            "| 10.0ms / 20.0ms |") in lines
    assert ("| fast | tool-call latency p50 / p99 (to announced durable: upper bound) | 30.0ms / 40.0ms "
            "| 30.0ms / 40.0ms |") in lines
