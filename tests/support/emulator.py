"""A handle on a running emulator process (services/emulator): URLs, SDK clients, admin endpoints."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from openai import OpenAI

from tests.support.processes import ServiceProcess


@dataclass
class Emulator:
    """A running emulator: its URLs, SDK clients (closed at teardown) and the admin endpoints."""

    process: ServiceProcess
    port: int
    clients: list[OpenAI] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def client(self, **options: Any) -> OpenAI:
        client = OpenAI(base_url=self.base_url, api_key="sk-test", **options)
        self.clients.append(client)
        return client

    def stats(self) -> dict[str, Any]:
        response = requests.get(f"{self.url}/_emulator/stats", timeout=10)
        response.raise_for_status()
        return response.json()

    def requests_to(self, route: str) -> int:
        """How many requests reached ``"METHOD /v1/route/<param>"``."""
        return self.stats()["requests"].get(route, 0)

    def tool_calls(self) -> dict[str, dict[str, Any]]:
        """When each tool call was made available and fully written: call id -> {name, due_at, completed_at}."""
        response = requests.get(f"{self.url}/_emulator/toolcalls", timeout=10)
        response.raise_for_status()
        return response.json()["tool_calls"]

    def configure(self, **changes: Any) -> dict[str, Any]:
        response = requests.put(f"{self.url}/_emulator/config", json=changes, timeout=10)
        response.raise_for_status()
        return response.json()

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        """An OpenAI API object straight from the emulator (``path`` below /v1), bypassing the SDK."""
        response = requests.get(f"{self.base_url}{path}", params=params, timeout=10,
                                headers={"Authorization": "Bearer sk-test", "OpenAI-Beta": "assistants=v2"})
        response.raise_for_status()
        return response.json()

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.process.terminate()
