"""`python -m bench.e2e.dbcpu [bench.e2e options]`: bench.e2e with SecantusDB's CPU split by command and sender.

SecantusDB serves each client connection on its own thread and runs each command through
``secantus.commands.dispatch``; here it runs with that function wrapped (``--serve``: this module as
the server process), adding each command's thread CPU time (``time.thread_time_ns``) to a counter per
(command, collection, client port). Around each phase's system run the bench signals the server:
SIGUSR1 takes a snapshot, SIGUSR2 writes the difference to ``$DBCPU_OUT`` (JSON lines) with the
process behind each client port (psutil), and the table is printed. Connections closed before the
end of the run (the bench's own short-lived clients) show as ``bench``. The wrapper's own cost is a
clock read per command; figures from this command are for attribution, not for the bench's ratios.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

OUT = os.environ.get("DBCPU_OUT", "dbcpu.jsonl")


def serve(argv: list[str]) -> int:
    """The SecantusDB server, with every command's CPU counted."""
    import psutil
    import secantus.server as server
    from secantus.cli import main

    local, lock = threading.local(), threading.Lock()
    counts: dict[tuple[str, str, int], list[int]] = collections.defaultdict(lambda: [0, 0])
    dispatch, handle = server.dispatch, server.SecantusDBServer._handle_client
    snapshot: dict[Any, Any] = {}
    port = argv[argv.index("--port") + 1]

    def counted(doc: dict[str, Any], ctx: Any) -> dict[str, Any]:
        start = time.thread_time_ns()
        try:
            return dispatch(doc, ctx)
        finally:
            name = next(iter(doc), "?")
            target = doc.get("collection") if name == "getMore" else doc.get(name)
            if name == "bulkWrite":
                target = ",".join(sorted({i.get("ns", "").split(".", 1)[-1] for i in doc.get("nsInfo", [])}))
            key = (name, target if isinstance(target, str) else "", getattr(local, "port", 0))
            with lock:
                counts[key][0] += 1
                counts[key][1] += time.thread_time_ns() - start

    def handling(self: Any, conn: Any, addr: tuple[str, int]) -> None:
        local.port = addr[1]
        handle(self, conn, addr)

    def mark(*_: Any) -> None:
        with lock:
            snapshot.update(counts={k: list(v) for k, v in counts.items()}, cpu=sum(psutil.Process().cpu_times()[:2]))

    def report(*_: Any) -> None:
        with lock:
            now = {k: list(v) for k, v in counts.items()}
        owners = {c.laddr.port: c.pid for c in psutil.net_connections("tcp")
                  if c.pid and c.pid != os.getpid() and c.raddr and str(c.raddr.port) == port}
        names = {}
        for pid in set(owners.values()):
            try:
                names[pid] = " ".join(psutil.Process(pid).cmdline()[1:4])
            except psutil.Error:
                names[pid] = "?"
        rows = [{"command": k[0], "collection": k[1], "sender": names.get(owners.get(k[2], -1), "bench"),
                 "count": v[0] - before[0], "cpu_ms": (v[1] - before[1]) / 1e6}
                for k, v in now.items() for before in [snapshot.get("counts", {}).get(k, [0, 0])] if v[0] > before[0]]
        cpu = sum(psutil.Process().cpu_times()[:2]) - snapshot.get("cpu", 0.0)
        with open(os.environ.get("DBCPU_OUT", OUT), "a") as out:
            out.write(json.dumps({"process_cpu_s": cpu, "rows": rows}) + "\n")

    server.dispatch = counted
    server.SecantusDBServer._handle_client = handling  # type: ignore[method-assign]
    signal.signal(signal.SIGUSR1, mark)
    signal.signal(signal.SIGUSR2, report)
    sys.argv = ["secantusd-py", *argv]
    return main()


def sender(cmdline: str) -> str:
    if "deliver" in cmdline:
        return "webhooks"
    return next((name for name in ("store", "runner", "gateway", "emulator") if f"services.{name}" in cmdline),
                "bench")


def table(report: dict[str, Any], tool_calls: int) -> list[str]:
    by_sender: dict[str, float] = collections.defaultdict(float)
    by_command: dict[tuple[str, str, str], list[float]] = collections.defaultdict(lambda: [0, 0.0])
    for row in report["rows"]:
        who = sender(row["sender"])
        by_sender[who] += row["cpu_ms"]
        entry = by_command[(who, row["command"], row["collection"])]
        entry[0] += row["count"]
        entry[1] += row["cpu_ms"]
    total = sum(by_sender.values()) or 1.0
    lines = [f"SecantusDB CPU {report['process_cpu_s']:.2f} s, {total / 1000:.2f} s of it in commands; "
             f"{tool_calls} tool calls"]
    lines += [f"  {who:9s} {ms / 1000:6.2f} s {ms / total:6.1%} {ms / tool_calls:6.3f} ms per tool call"
              for who, ms in sorted(by_sender.items(), key=lambda kv: -kv[1])]
    lines += [f"  {ms:8.0f} ms {int(n):6d} commands {ms / n:7.2f} ms each  {who} {command} {collection}"
              for (who, command, collection), (n, ms) in sorted(by_command.items(), key=lambda kv: -kv[1][1])[:14]]
    return lines


def main(argv: list[str]) -> int:
    import tests.support.mongo as support
    import bench.e2e.__main__ as e2e

    out = Path(OUT).resolve()
    os.environ["DBCPU_OUT"] = str(out)
    start = support.EmbeddedMongo.start

    def start_counted(self: support.EmbeddedMongo, timeout: float = 60.0) -> support.EmbeddedMongo:
        real = subprocess.Popen

        def popen(args: list[str], **kwargs: Any) -> subprocess.Popen:
            return real([sys.executable, "-m", "bench.e2e.dbcpu", "--serve", *args[1:]], **kwargs)
        support.subprocess.Popen = popen  # type: ignore[attr-defined]
        try:
            return start(self, timeout)
        finally:
            support.subprocess.Popen = real  # type: ignore[attr-defined]

    support.EmbeddedMongo.start = start_counted  # type: ignore[method-assign]
    run_system = e2e.run_system

    def counted_run(bench: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        pid = bench.mongo.process.pid
        os.kill(pid, signal.SIGUSR1)
        run = run_system(bench, name, *args, **kwargs)
        os.kill(pid, signal.SIGUSR2)
        time.sleep(1.0)  # the server writes the report from its signal handler
        report = json.loads(out.read_text().splitlines()[-1])
        print("\n".join(f"{name} dbcpu {line}" for line in table(report, run.tool_calls)), flush=True)
        return run

    e2e.run_system = counted_run  # type: ignore[assignment]
    return e2e.main(argv)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        sys.exit(serve(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
