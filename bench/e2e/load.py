"""N generations through the gateway: submit with bounded concurrency, wait until every one is terminal in
MongoDB, verify every recipe exactly, and join each tool call's emission time with its record's recorded_at
(a lower bound of when it became durable) and with the store's first events.recorded covering it (an upper
bound: bench/e2e/durable.py)."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import requests
from pymongo import MongoClient

from bench.e2e.cpu import cpu_seconds
from bench.e2e.durable import Coverage
from bench.e2e.report import percentile
from bench.e2e.verify import announced, latencies, notes_on, stamps, verify
from bench.e2e.workload import DATABASE, TERMINAL, BenchFailure, prompt_for
from services.common.schemas import GENERATION_COMPLETED, GENERATION_FAILED

TERMINAL_EVENTS = (GENERATION_COMPLETED, GENERATION_FAILED)


@dataclass(frozen=True)
class SystemRun:
    prompts: dict[str, str]  # generation id -> prompt
    seconds: float  # first POST -> the bench saw every generation terminal and every recipe complete
    tool_calls: int
    latencies: tuple[float, ...]  # seconds, one per tool call: emitted -> recorded_at (lower bound)
    runner_part: tuple[float, ...]  # emitted -> the runner's event time (it built the event)
    store_part: tuple[float, ...]  # the runner's event time -> recorded_at (publish, broker, store)
    announced: tuple[float, ...]  # emitted -> its events.recorded reached the bench (upper bound)
    announced_part: tuple[float, ...]  # the runner's event time -> its events.recorded reached the bench
    cpu: dict[str, float]  # CPU seconds per process tree during the run
    notes: tuple[str, ...]


def submit_all(gateway_url: str, prompts: list[str], concurrency: int) -> dict[str, str]:
    local = threading.local()

    def post(prompt: str) -> tuple[str, str]:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        response = session.post(f"{gateway_url}/v1/generations", json={"prompt": prompt}, timeout=60)
        if response.status_code != 202:
            raise BenchFailure(f"POST /v1/generations answered {response.status_code}: {response.text[:500]}")
        return response.json()["id"], prompt

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-post")
    try:
        accepted = list(pool.map(post, prompts))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    by_id = dict(accepted)
    if len(by_id) != len(prompts):
        raise BenchFailure(f"{len(prompts)} POSTs gave {len(by_id)} distinct generation ids")
    return by_id


def _terminal(db: Any) -> tuple[int, int, int]:
    """(terminal, completed) generations and complete recipes in the whole bench database. No ``$in`` of
    ids: SecantusDB evaluates it in quadratic time (~0.9 s for 1,000 ids), which slowed the store."""
    return (db.generations.count_documents({"status": {"$in": list(TERMINAL)}}),
            db.generations.count_documents({"status": "completed"}),
            db.recipes.count_documents({"status": "complete"}))


def _terminal_events(db: Any) -> int:
    """Terminal events recorded in generation_events (a scan: asked only once the statuses are all in)."""
    return int(db.generation_events.count_documents({"type": {"$in": list(TERMINAL_EVENTS)}}))


@dataclass
class Polls:
    count: int = 0
    seconds: float = 0.0  # spent waiting for the database's answers


def wait_terminal(db: Any, count: int, before: tuple[int, int, int, int], *, stall_s: float,
                  alive: Callable[[], None], polls: Polls, interval: float = 0.5) -> float:
    """Until ``count`` more generations are terminal than ``before`` and as many more recipes complete as
    generations completed; fail on a stall. Returns the perf_counter time at which the bench saw it."""
    last, last_change = -1, time.monotonic()
    while True:
        asked = time.perf_counter()
        done = db.generations.count_documents({"status": {"$in": list(TERMINAL)}}) - before[0]
        seen = time.perf_counter()
        polls.count, polls.seconds = polls.count + 1, polls.seconds + seen - asked
        if done >= count:
            _, completed, complete = _terminal(db)
            # The store writes a batch in one command, document by document: a generation shows its
            # status before the same command has recorded its last events. Done when its terminal
            # event is recorded too (the records keep the batch's order; the SSE stream ends on it).
            if complete - before[2] >= completed - before[1] and _terminal_events(db) - before[3] >= count:
                return seen
        if done != last:
            last, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            raise BenchFailure(f"stalled: {done} of {count} generations terminal, no progress for {stall_s:.0f}s")
        alive()
        time.sleep(max(interval, 9 * (seen - asked)))  # the polls take at most ~10% of the database's time


def run_system(bench: Any, phase: str, count: int, concurrency: int, *, first: int = 0,
               stall_s: float = 120.0, announced_within: float = 30.0) -> SystemRun:
    bench.reset_emulator_stats()  # the tool-call emission times from here on are the system's only
    prompts = [prompt_for(phase, i) for i in range(first, first + count)]
    with MongoClient(bench.mongo_uri, tz_aware=True) as client:
        db = client[DATABASE]
        before, polls = (*_terminal(db), _terminal_events(db)), Polls()  # earlier runs' generations too
        cpu_before = cpu_seconds(bench.pids())
        mark = bench.announcements.mark()
        start = time.perf_counter()
        by_id = submit_all(bench.gateway_url, prompts, concurrency)
        seconds = wait_terminal(db, len(by_id), before, stall_s=stall_s, alive=bench.check_alive,
                                polls=polls) - start
        cpu_after = cpu_seconds(bench.pids())
        events = verify(db, by_id)
        coverage = Coverage(stamps(db, list(by_id)), [e["_id"] for e in events])
    # The last announcements may still be on their way when the statuses are all in.
    bench.announcements.wait_until(coverage, mark, announced_within)
    received = bench.announcements.since(mark)
    ends, gaps = coverage.ends(received), coverage.gaps(received)
    emitted = bench.emulator_tool_calls()
    total, runner, store = latencies(events, emitted)
    upper, upper_part = announced(events, emitted, ends)
    cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    notes = notes_on(events, emitted, total)
    if gaps:
        notes.append(f"recorded_at -> its events.recorded at the bench p50={percentile(gaps, 50) * 1000:.1f}ms "
                     f"p99={percentile(gaps, 99) * 1000:.1f}ms (n={len(gaps)}; what the upper bound adds)")
    if len(upper) < len(events):
        notes.append(f"{len(events) - len(upper)} of {len(events)} tool calls had no events.recorded covering them "
                     f"within {announced_within:.0f}s (the bench's hint queue reconnected "
                     f"{bench.announcements.reconnects} time(s) so far): left out of the upper bound")
    notes.append(f"the bench's {polls.count} progress polls (one count query each) waited {polls.seconds:.1f}s "
                 f"for SecantusDB in the {seconds:.0f}s run ({polls.seconds / seconds:.0%})")
    return SystemRun(by_id, seconds, len(events), tuple(total), tuple(runner), tuple(store), tuple(upper),
                     tuple(upper_part), cpu, tuple(notes))


PROBED = ("latencies", "runner_part", "store_part", "announced", "announced_part")


def probe(bench: Any, phase: str, count: int) -> dict[str, list[float]]:
    """Tool-call latencies with no backlog: ``count`` generations one after another, each waited for;
    each of ``SystemRun``'s ``PROBED`` figures over all of them."""
    samples: dict[str, list[float]] = {name: [] for name in PROBED}
    for index in range(count):
        run = run_system(bench, f"{phase} probe", 1, 1, first=index)
        for name in PROBED:
            samples[name] += getattr(run, name)
    return samples
