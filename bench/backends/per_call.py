"""Per-call against end-of-turn publishing, in one run, with the model writing at a real pace.

The emulator writes function-call arguments at ``BENCH_TOKENS_PER_SECOND`` (default 40) and notes
when each call's last delta went out (``completed_at``). The runner's publisher is wrapped to note
when each event was confirmed by the broker (a publish returned; a publish handed over without waiting,
as a streamed call's is: its ``Pending.confirmed_at``). Latency of one call =
confirmed - completed_at. For the seed's batch of 19 ingredients, ``lead`` = how long before the
model finished writing the batch its first ingredient was confirmed (positive: while the model was
still writing the rest).
"""
from __future__ import annotations

import statistics
import threading
import time
from typing import Any, Sequence

import requests

from services.common import schemas
from services.common.config import load_settings
from services.common.events import CloudEvent
from services.common.publisher import Pending, Publisher
from services.runner.backends.assistants import AssistantsModel
from services.runner.backends.responses import ResponsesModel
from services.runner.backends.sdk import make_client
from services.runner.bootstrap import bootstrap
from tests.runner.helpers import DELIVERY_LIMIT, SEED_INSTRUCTIONS, SEED_PROMPT, Pipeline

VARIANTS = (("responses", True), ("responses", False), ("assistants", True), ("assistants", False))


class TimedPublisher:
    """The runner's publisher, noting when each event's publish returned (its confirm arrived)."""

    def __init__(self, inner: Publisher) -> None:
        self._inner = inner
        self._returned: dict[str, float] = {}
        self._pending: list[Pending] = []

    def publish(self, events: Sequence[CloudEvent], timeout: float = 30.0) -> None:
        self._inner.publish(events, timeout=timeout)
        now = time.time()
        for event in events:
            self._returned.setdefault(event.id, now)

    def publish_async(self, events: Sequence[CloudEvent], timeout: float = 30.0) -> Pending:
        pending = self._inner.publish_async(events, timeout=timeout)
        self._pending.append(pending)
        return pending

    @property
    def confirmed(self) -> dict[str, float]:
        """Each event's first confirm (wall clock), by event id."""
        times = dict(self._returned)
        for pending in self._pending:
            for event in pending.events:
                if pending.confirmed_at is not None:
                    times[event.id] = min(times.get(event.id, pending.confirmed_at), pending.confirmed_at)
        return times

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def run_variant(backend: str, per_call: bool, url: str, env: dict[str, str], emulator: str,
                generations: int) -> dict[str, float]:
    requests.post(f"{emulator}/_emulator/stats/reset", timeout=10).raise_for_status()
    settings = load_settings({**env, "OPENAI_BASE_URL": f"{emulator}/v1", "RUNNER_CONCURRENCY": str(generations),
                              "DELIVERY_LIMIT": str(DELIVERY_LIMIT)})
    client = make_client(None, f"{emulator}/v1")
    model = AssistantsModel(client, "gpt-4.1") if backend == "assistants" else ResponsesModel(client, "gpt-4.1")
    publisher = TimedPublisher(Publisher(settings.rabbitmq_url, name="bench-runner").start())
    runner = bootstrap(settings, model=model, publisher=publisher, per_call=per_call)  # type: ignore[arg-type]
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        with Pipeline(url) as pipe:
            ids = [pipe.request(SEED_PROMPT, instructions=SEED_INSTRUCTIONS) for _ in range(generations)]
            ended = pipe.wait_all_terminal(ids, timeout=600)
            assert all(e.type == schemas.GENERATION_COMPLETED for e in ended.values()), (backend, per_call)
            calls = {e.id: e for e in pipe.collect() if e.type in schemas.TOOLCALL_TYPES and e.subject in ids}
    finally:
        runner.stop()
        thread.join(timeout=30)
        runner.close()
    written = requests.get(f"{emulator}/_emulator/toolcalls", timeout=30).json()["tool_calls"]
    confirmed = publisher.confirmed
    latencies = sorted((confirmed[i] - written[e.data["tool_call_id"]]["completed_at"]) * 1000
                       for i, e in calls.items())
    leads = []
    for gid in ids:
        batch = [e for e in calls.values() if e.subject == gid and e.type == schemas.TOOLCALL_ADD_INGREDIENT]
        batch_written = max(written[e.data["tool_call_id"]]["completed_at"] for e in batch)
        leads.append(batch_written - min(confirmed[e.id] for e in batch))
    return {"calls": len(latencies), "p50": statistics.median(latencies),
            "p95": latencies[int(0.95 * (len(latencies) - 1))], "lead": statistics.median(leads)}


def report(results: dict[tuple[str, bool], dict[str, float]], pace: str) -> None:
    print(f"\nper-call vs end-of-turn publishing, model writing at {pace} tokens/s; "
          "latency = event confirmed - call written; lead = first ingredient confirmed before its batch was written")
    for (backend, per_call), r in results.items():
        kind = "per-call" if per_call else "end-of-turn"
        print(f"{backend + ' ' + kind:24} calls={r['calls']:4d} p50={r['p50']:8.1f} ms p95={r['p95']:8.1f} ms "
              f"lead={r['lead']:6.2f} s")
