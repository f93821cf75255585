"""A closed-loop load generator: N keep-alive HTTP clients in threads, latency of every request."""
from __future__ import annotations

import http.client
import json
import statistics
import threading
import time


def _client(bind: str, deadline: float, latencies: list[float], errors: list[int]) -> None:
    host, port = bind.split(":")
    body = json.dumps({"prompt": "A vegetarian lasagne for four"})
    headers = {"Content-Type": "application/json"}
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                connection.request("POST", "/v1/generations", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors.append(0)
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
                continue
            if response.status == 202:
                latencies.append(time.perf_counter() - started)
            else:
                errors.append(response.status)
    finally:
        connection.close()


def summary(latencies: list[float], errors: int, elapsed: float) -> dict:
    ordered = sorted(latencies) or [0.0]
    return {"ok": len(latencies), "errors": errors, "rps": len(latencies) / elapsed, "elapsed": elapsed,
            "latencies": latencies, "p50": statistics.median(ordered),
            "p99": ordered[int(len(ordered) * 0.99) - 1 if len(ordered) > 1 else 0]}


def combined(results: list[dict]) -> dict:
    """Several runs of the same target as one: all latencies, total requests over total time."""
    return summary([latency for result in results for latency in result["latencies"]],
                   sum(result["errors"] for result in results), sum(result["elapsed"] for result in results))


def run_load(bind: str, concurrency: int, duration: float) -> dict:
    latencies: list[float] = []
    errors: list[int] = []
    started = time.monotonic()
    threads = [threading.Thread(target=_client, args=(bind, started + duration, latencies, errors))
               for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summary(latencies, len(errors), time.monotonic() - started)
