"""A small client of the gateway's HTTP API (the only place the CLI speaks HTTP)."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterator

import requests
import sseclient


class ApiError(RuntimeError):
    """The gateway answered with a problem document; the message is its title and detail."""


class GatewayClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = timeout

    def _check(self, response: requests.Response) -> Any:
        if response.status_code >= 400:
            try:
                problem = response.json()
                detail = f"{problem.get('title')}: {problem.get('detail')}"
            except ValueError:
                detail = response.text[:200]
            raise ApiError(f"HTTP {response.status_code} {detail}")
        return response.json()

    def ready(self) -> bool:
        try:
            return self.session.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise ApiError(f"the gateway at {self.base_url} is not ready after {timeout:.0f}s")
            time.sleep(0.5)

    def submit(self, prompt: str, instructions: str | None = None, model: str | None = None,
               attempts: int = 5) -> dict[str, Any]:
        """POST a generation; retried on 503 with the same Idempotency-Key, so it is never doubled."""
        body = {"prompt": prompt, **({"instructions": instructions} if instructions else {}),
                **({"model": model} if model else {})}
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        for attempt in range(attempts):
            response = self.session.post(f"{self.base_url}/v1/generations", json=body, headers=headers,
                                         timeout=self.timeout)
            if response.status_code != 503 or attempt == attempts - 1:
                return self._check(response)
            time.sleep(float(response.headers.get("Retry-After", "1")))
        raise AssertionError("unreachable")

    def generation(self, generation_id: str) -> dict[str, Any]:
        return self._check(self.session.get(f"{self.base_url}/v1/generations/{generation_id}", timeout=self.timeout))

    def recipe(self, recipe_id: str) -> dict[str, Any]:
        return self._check(self.session.get(f"{self.base_url}/v1/recipes/{recipe_id}", timeout=self.timeout))

    def recipes(self, **filters: str) -> dict[str, Any]:
        params = {k: v for k, v in filters.items() if v}
        return self._check(self.session.get(f"{self.base_url}/v1/recipes", params=params, timeout=self.timeout))

    def events(self, generation_id: str) -> Iterator[dict[str, Any]]:
        """Follow the generation's SSE stream until its terminal event; reconnects with Last-Event-ID,
        and waits Retry-After when the gateway has no stream free (503)."""
        last_id: str | None = None
        while True:
            headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_id} if last_id else {})}
            with self.session.get(f"{self.base_url}/v1/generations/{generation_id}/events", headers=headers,
                                  stream=True, timeout=(5, 60)) as response:
                if response.status_code == 503:  # the gateway's streams are all taken, or it is restarting
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                    if self.generation(generation_id)["status"] in ("completed", "failed"):
                        return
                    continue
                self._check_stream(response)
                # sseclient-py reads a streaming requests Response as its README shows (iterating it).
                for event in sseclient.SSEClient(response).events():  # type: ignore[arg-type]
                    if not event.data:
                        continue
                    last_id = event.id or last_id
                    payload = json.loads(event.data)
                    yield payload
                    if payload["type"] in ("generation.completed", "generation.failed"):
                        return
            if self.generation(generation_id)["status"] in ("completed", "failed"):
                return

    def _check_stream(self, response: requests.Response) -> None:
        if response.status_code >= 400:
            self._check(response)
