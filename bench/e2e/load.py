"""N generations through the gateway: submit with bounded concurrency, wait until every one is terminal in
MongoDB, verify every recipe exactly, and join each tool call's emission time with its durable record."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import requests
from pymongo import MongoClient

from bench.e2e.cpu import cpu_seconds
from bench.e2e.verify import latencies, notes_on, verify
from bench.e2e.workload import DATABASE, TERMINAL, BenchFailure, prompt_for


@dataclass(frozen=True)
class SystemRun:
    prompts: dict[str, str]  # generation id -> prompt
    seconds: float  # first POST -> the bench saw every generation terminal and every recipe complete
    tool_calls: int
    latencies: tuple[float, ...]  # seconds, one per tool call: emitted -> recorded_at
    runner_part: tuple[float, ...]  # emitted -> the runner's event time (it built the event)
    store_part: tuple[float, ...]  # the runner's event time -> recorded_at (publish, broker, store)
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


def wait_terminal(db: Any, ids: list[str], *, stall_s: float, alive: Callable[[], None],
                  interval: float = 0.25) -> float:
    """Until every generation is terminal and every completed one's recipe complete; fail on a stall.
    One count query per ``interval`` (SecantusDB is one process: polling it harder slows the store).
    Returns the perf_counter time at which the bench saw it done."""
    last, last_change = -1, time.monotonic()
    while True:
        done = db.generations.count_documents({"_id": {"$in": ids}, "status": {"$in": list(TERMINAL)}})
        if done == len(ids):
            seen = time.perf_counter()
            completed = db.generations.count_documents({"_id": {"$in": ids}, "status": "completed"})
            if db.recipes.count_documents({"generation_id": {"$in": ids}, "status": "complete"}) >= completed:
                return seen
        if done != last:
            last, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            raise BenchFailure(f"stalled: {done} of {len(ids)} generations terminal, no progress for {stall_s:.0f}s")
        alive()
        time.sleep(interval)


def run_system(bench: Any, phase: str, count: int, concurrency: int, *, first: int = 0,
               stall_s: float = 120.0) -> SystemRun:
    bench.reset_emulator_stats()  # the tool-call emission times from here on are the system's only
    prompts = [prompt_for(phase, i) for i in range(first, first + count)]
    with MongoClient(bench.mongo_uri, tz_aware=True) as client:
        db = client[DATABASE]
        cpu_before = cpu_seconds(bench.pids())
        start = time.perf_counter()
        by_id = submit_all(bench.gateway_url, prompts, concurrency)
        seconds = wait_terminal(db, list(by_id), stall_s=stall_s, alive=bench.check_alive) - start
        cpu_after = cpu_seconds(bench.pids())
        events = verify(db, by_id)
    emitted = bench.emulator_tool_calls()
    total, runner, store = latencies(events, emitted)
    cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    return SystemRun(by_id, seconds, len(events), tuple(total), tuple(runner), tuple(store), cpu,
                     tuple(notes_on(events, emitted, total)))


def probe(bench: Any, phase: str, count: int) -> list[float]:
    """Tool-call latencies with no backlog: ``count`` generations one after another, each waited for."""
    values: list[float] = []
    for index in range(count):
        values += run_system(bench, f"{phase} probe", 1, 1, first=index).latencies
    return values
