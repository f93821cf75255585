"""The whole system as real processes: emulator, store, runner(s), gateway, on one vhost and database."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import requests

from tests.support.mongo import free_port
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@dataclass
class System:
    env: dict[str, str]
    start_service: Callable[..., ServiceProcess]
    emulator_args: tuple[str, ...] = ()
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    probe_ports: dict[str, int] = field(default_factory=dict)
    emulator_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    def _env(self, name: str) -> dict[str, str]:
        port = self.probe_ports.setdefault(name, free_port())
        return {
            **self.env,
            "OPENAI_BASE_URL": f"{self.emulator_url}/v1",
            "OPENAI_API_KEY": "sk-emulator",
            "GATEWAY_BIND": f"127.0.0.1:{self.gateway_port}",
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "WEBHOOK_ALLOW_HTTP": "true",
            "PROBE_PORT": str(port),
        }

    def ready_url(self, name: str) -> str:
        if name == "emulator":
            return f"{self.emulator_url}/healthz"
        if name.startswith("gateway"):
            return f"{self.gateway_url}/readyz"
        return f"http://127.0.0.1:{self.probe_ports[name]}/readyz"

    def start(self, name: str, module: str | None = None, *args: str) -> ServiceProcess:
        """Start one process (``name`` may be e.g. "runner-2" for a second runner) and wait until it is ready."""
        kind = name.split("-")[0]
        module = module or f"services.{kind}"
        if kind == "webhooks":  # the gateway's webhook delivery worker
            module, args = "services.gateway", ("deliver", *args)
        if name == "emulator":
            args = ("--port", str(self.emulator_port), *self.emulator_args, *args)
        process = self.start_service(module, self._env(name), *args, name=name)
        self.processes[name] = process
        self.wait_ready(name)
        return process

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        process = self.processes[name]

        def ready() -> bool:
            assert process.running, f"{name} exited with {process.process.returncode}:\n{process.log()[-3000:]}"
            return http_ok(self.ready_url(name))

        wait_for(ready, timeout=timeout, interval=0.2, message=f"{name} ready")

    def start_all(self) -> "System":
        for name in ("emulator", "store", "runner", "gateway", "webhooks"):
            self.start(name)
        return self

    def restart(self, name: str) -> None:
        """kill -9, then start again and wait until ready."""
        process = self.processes[name]
        process.kill()
        process.start()
        self.wait_ready(name)
