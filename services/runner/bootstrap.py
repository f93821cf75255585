"""Wiring: every adapter is a parameter with the production default."""
from __future__ import annotations

import functools
from dataclasses import dataclass

from pymongo import MongoClient

from services.common import registration
from services.common.config import ConfigError, Settings
from services.common.consumer import Consumer
from services.common.mongo import close_quickly, connect
from services.common.publisher import Pending, Publisher
from services.runner.backends import Backend
from services.runner.backends.assistants import AssistantsModel
from services.runner.backends.responses import ResponsesModel
from services.runner.backends.sdk import assistants_status, make_client, served_models
from services.runner.consumers import consumers
from services.runner.domain import Limits
from services.runner.handlers import CredentialHold, Deps
from services.runner.model_events import ResponseWaiter
from services.runner.mongo import AssistantRegistry, RunStore
from services.runner.platform import PlatformGate


@dataclass
class Runner:
    consumer: Consumer
    publisher: Publisher
    model: Backend
    mongo: MongoClient | None
    credentials: CredentialHold
    waiter: ResponseWaiter | None = None
    gate: PlatformGate | None = None  # None: a model given by the caller (tests, bench), no start-up checks

    @property
    def ready(self) -> bool:
        waiting = self.waiter is None or self.waiter.connected
        credentials_ok = not self.credentials.refused.is_set()  # requests are held, not served
        return self.consumer.consuming and self.publisher.connected and waiting and credentials_ok

    @property
    def platform_ok(self) -> bool:
        return self.gate is None or self.gate.open

    def run(self) -> None:
        """Once the platform checks pass, consume until ``stop`` (then in-flight generations finish
        within the stop timeout). Until then nothing is consumed, so no request burns its retries."""
        if self.gate is not None and not self.gate.wait_open():
            return
        self.consumer.run()

    def stop(self) -> None:
        self.credentials.stopping.set()  # held requests go back to the queue
        if self.gate is not None:
            self.gate.stop()
        self.consumer.stop()

    def close(self) -> None:
        if self.waiter is not None:
            self.waiter.stop()
        self.publisher.close()
        self.model.close()
        if self.mongo is not None:
            close_quickly(self.mongo)  # bounded: a stop while MongoDB is gone must not wait for it


def _client(settings: Settings):
    if not settings.openai_api_key and not settings.openai_base_url:
        raise ConfigError("neither OPENAI_API_KEY nor OPENAI_BASE_URL is set: set OPENAI_API_KEY for OpenAI, "
                          "or OPENAI_BASE_URL for the emulator (python -m services.emulator)")
    return make_client(settings.openai_api_key, settings.openai_base_url)


def gate_for(settings: Settings) -> PlatformGate:
    """The start-up checks (services/runner/platform.py) over their own client: they must not share
    the model adapter's retries, and fail fast so the gate's backoff decides."""
    client = _client(settings).with_options(max_retries=0, timeout=10.0)
    probe_assistants = settings.model_backend == "assistants"
    return PlatformGate(settings.openai_model, str(client.base_url), lambda: served_models(client),
                        (lambda: assistants_status(client)) if probe_assistants else None)


def model_for(settings: Settings, waiter: ResponseWaiter | None = None,
              registry: AssistantRegistry | None = None) -> Backend:
    client = _client(settings)
    if settings.model_backend == "responses":
        return ResponsesModel(client, settings.openai_model, waiter=waiter,
                              safety_poll=settings.runner_safety_poll_seconds)
    return AssistantsModel(client, settings.openai_model, election=registry)


def bootstrap(
    settings: Settings,
    *,
    model: Backend | None = None,
    publisher: Publisher | None = None,
    runs: RunStore | None = None,
    stop_timeout: float = 30.0,
    per_call: bool = True,
) -> Runner:
    waiter = None
    if model is None and settings.model_backend == "responses" and settings.runner_responses_background:
        waiter = ResponseWaiter(settings.rabbitmq_url).start()  # bound before any response is created
    mongo = registry = None
    if runs is None:
        mongo = connect(settings.require_mongo_uri(), app_name="runner")
        runs = RunStore(mongo[settings.mongo_db])
        registry = AssistantRegistry(mongo[settings.mongo_db])  # runner processes agree on one assistant
    gate = gate_for(settings) if model is None else None
    model = model or model_for(settings, waiter, registry)
    publisher = publisher or Publisher(settings.rabbitmq_url, name="runner-publisher").start()
    credentials = CredentialHold()
    publish = functools.partial(_publish, publisher, settings.runner_publish_timeout_seconds)
    publish_async = functools.partial(_publish_async, publisher, settings.runner_publish_timeout_seconds)
    deps = Deps(model=model, runs=runs, publish=publish, publish_async=publish_async,
                run_timeout=settings.runner_run_timeout_seconds,
                credentials=credentials,
                limits=Limits(settings.runner_max_turns, settings.runner_max_tool_calls), per_call=per_call)
    consumer = registration.only(consumers(deps, settings.runner_concurrency, stop_timeout), settings)
    return Runner(consumer=consumer, publisher=publisher, model=model, mongo=mongo, credentials=credentials,
                  waiter=waiter, gate=gate)


def _publish(publisher: Publisher, timeout: float, events) -> None:
    publisher.publish(list(events), timeout=timeout)


def _publish_async(publisher: Publisher, timeout: float, events) -> Pending:
    return publisher.publish_async(list(events), timeout=timeout)
