"""`python -m bench.backends`: tool-call latency of the runner's ways of waiting on the model.

Modes: Assistants streamed / polled, Responses streamed / polled (background +
retrieve with backoff) / background woken by signed webhooks (emulator ->
gateway /v1/openai/webhooks -> broker -> the runner's own queue). Each mode runs
BENCH_GENERATIONS seed generations at once through an in-process runner
(services.runner.bootstrap with the mode's model adapter) against one emulator
(--think-ms BENCH_THINK_MS). Latency of one tool call = the runner's
``toolcall.*`` event ``time`` (built just before the confirmed publish) minus
the emulator's ``due_at`` for that call (when the model turn was ready), so
the wait for the next poll counts. Prints p50 / p95 / max in ms per mode, the
number of model API requests, and the floor (streamed Assistants) ratio.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import requests

from bench.backends import per_call
from services.common import schemas
from services.common.config import load_settings
from services.runner.bootstrap import bootstrap
from services.runner.backends.assistants import AssistantsModel
from services.runner.backends.responses import ResponsesModel
from services.runner.backends.sdk import make_client
from services.runner.model_events import ResponseWaiter
from tests.runner.helpers import DELIVERY_LIMIT, SEED_INSTRUCTIONS, SEED_PROMPT, Pipeline
from tests.support.broker import fresh_vhost, wait_for_broker
from tests.support.mongo import EmbeddedMongo, free_port
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for

GENERATIONS = int(os.environ.get("BENCH_GENERATIONS", "10"))
THINK_MS = os.environ.get("BENCH_THINK_MS", "500")
SECRET = "whsec_YmVuY2gtYmFja2VuZHMtd2ViaG9vay1zZWNyZXQ="
PACE = os.environ.get("BENCH_TOKENS_PER_SECOND", "40")
MODES = ("assistants-stream", "assistants-poll", "responses-stream", "responses-poll", "responses-webhook")


def _model(mode: str, base_url: str, url: str):
    client, name = make_client(None, base_url), "gpt-4.1"
    if mode == "assistants-stream":
        return AssistantsModel(client, name), None
    if mode == "assistants-poll":
        return AssistantsModel(client, name, streaming=False), None  # created and submitted unstreamed, polled
    if mode == "responses-stream":
        return ResponsesModel(client, name), None
    if mode == "responses-poll":
        return ResponsesModel(client, name, background=True), None  # background, polled with backoff
    waiter = ResponseWaiter(url).start()
    return ResponsesModel(client, name, waiter=waiter, safety_poll=60.0), waiter


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def run_mode(mode: str, url: str, env: dict[str, str], emulator: str) -> dict[str, float]:
    requests.post(f"{emulator}/_emulator/stats/reset", timeout=10).raise_for_status()
    settings = load_settings({**env, "OPENAI_BASE_URL": f"{emulator}/v1", "RUNNER_CONCURRENCY": str(GENERATIONS),
                              "DELIVERY_LIMIT": str(DELIVERY_LIMIT)})  # as the Pipeline declares the queues
    model, waiter = _model(mode, f"{emulator}/v1", url)
    runner = bootstrap(settings, model=model)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        with Pipeline(url) as pipe:
            started = time.monotonic()
            ids = [pipe.request(SEED_PROMPT, instructions=SEED_INSTRUCTIONS) for _ in range(GENERATIONS)]
            ended = pipe.wait_all_terminal(ids, timeout=300)
            wall = time.monotonic() - started
            assert all(e.type == schemas.GENERATION_COMPLETED for e in ended.values()), mode
            calls = [e for e in pipe.collect() if e.type in schemas.TOOLCALL_TYPES and e.subject in ids]
    finally:
        runner.stop()
        thread.join(timeout=30)
        runner.close()
        if waiter is not None:
            waiter.stop()
    due = requests.get(f"{emulator}/_emulator/toolcalls", timeout=30).json()["tool_calls"]
    stats = requests.get(f"{emulator}/_emulator/stats", timeout=10).json()
    latencies = sorted((_ms(e.time) - due[e.data["tool_call_id"]]["due_at"]) * 1000 for e in
                       {e.id: e for e in calls}.values())
    return {"calls": len(latencies), "p50": statistics.median(latencies),
            "p95": latencies[int(0.95 * (len(latencies) - 1))], "max": latencies[-1],
            "requests": sum(n for route, n in stats["requests"].items() if route.startswith(("GET", "POST"))),
            "wall_s": wall}


def main() -> None:
    wait_for_broker()
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp, fresh_vhost("bench-backends") as url:
        mongo = EmbeddedMongo(Path(tmp) / "data").start()
        emulator_port, gateway_bind = free_port(), f"127.0.0.1:{free_port()}"
        env = {"RABBITMQ_URL": url, "MONGO_URI": mongo.uri, "MONGO_DB": "bench", "LOG_LEVEL": "WARNING",
               "OPENAI_WEBHOOK_SECRET": SECRET, "GATEWAY_BIND": gateway_bind}
        emulator = ServiceProcess("services.emulator", {}, ("--port", str(emulator_port), "--think-ms", THINK_MS,
                                  "--log-level", "WARNING", "--webhook-url",
                                  f"http://{gateway_bind}/v1/openai/webhooks", "--webhook-secret", SECRET)).start()
        gateway = ServiceProcess("services.gateway", env).start()
        root = f"http://127.0.0.1:{emulator_port}"
        processes = [gateway, emulator]
        try:
            for up in (f"{root}/healthz", f"http://{gateway_bind}/healthz"):
                wait_for(lambda up=up: _ok(up), timeout=60, message=up)
            print(f"{GENERATIONS} seed generations at once per mode, think {THINK_MS} ms per model turn; "
                  "latency = toolcall event built - turn due")
            results = {mode: run_mode(mode, url, env, root) for mode in MODES}
            paced_port = free_port()
            paced = ServiceProcess("services.emulator", {}, ("--port", str(paced_port), "--think-ms", THINK_MS,
                                   "--tokens-per-second", PACE, "--log-level", "WARNING")).start()
            processes.append(paced)
            paced_root = f"http://127.0.0.1:{paced_port}"
            wait_for(lambda: _ok(f"{paced_root}/healthz"), timeout=60, message="the paced emulator")
            timed = {(backend, each): per_call.run_variant(backend, each, url, env, paced_root, GENERATIONS)
                     for backend, each in per_call.VARIANTS}
        finally:
            for process in processes:
                process.terminate(timeout=15)
            mongo.stop()
    floor = results["assistants-stream"]["p50"]
    for mode, r in results.items():
        print(f"{mode:18} calls={r['calls']:4d} p50={r['p50']:7.1f} ms p95={r['p95']:7.1f} ms "
              f"max={r['max']:7.1f} ms  model_api_requests={r['requests']:5d} wall={r['wall_s']:5.1f} s  "
              f"p50/floor={r['p50'] / floor if floor > 0 else float('nan'):5.2f}")
    per_call.report(timed, PACE)


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


if __name__ == "__main__":
    main()
