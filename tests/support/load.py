"""A steady load of generation requests, as a client that retries (same Idempotency-Key) until accepted."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import requests


@dataclass
class SteadyLoad:
    gateway_url: str
    interval: float = 0.4
    accepted: dict[str, tuple[str, float]] = field(default_factory=dict)  # generation id -> (prompt, accepted at)
    refused: int = 0  # answers other than 202 (e.g. 503 while the broker fails over), each retried
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> "SteadyLoad":
        self._thread = threading.Thread(target=self._run, name="steady-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def since(self, moment: float) -> set[str]:
        """Generations accepted after ``moment`` (time.monotonic)."""
        return {gid for gid, (_prompt, at) in list(self.accepted.items()) if at > moment}

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            prompt = f"Steady supper {n}: a stew of beans number {n}"
            self._submit(prompt, key=f"steady-{n}")
            n += 1
            self._stop.wait(self.interval)

    def _submit(self, prompt: str, key: str) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                answer = requests.post(f"{self.gateway_url}/v1/generations", json={"prompt": prompt},
                                       headers={"Idempotency-Key": key}, timeout=30)
            except requests.RequestException:
                answer = None
            if answer is not None and answer.status_code == 202:
                self.accepted[answer.json()["id"]] = (prompt, time.monotonic())
                return
            self.refused += 1
            time.sleep(0.5)  # the client's back-off; Retry-After says 1 s, a failover is a few seconds
        raise AssertionError(f"{key} never accepted")
