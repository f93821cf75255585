"""Shared fixtures: a real RabbitMQ (a fresh vhost per test) and a real MongoDB wire protocol
(SecantusDB started once per session unless MONGO_URI is set; a fresh database per test)."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from services.common.publisher import Publisher
from tests.support.broker import fresh_vhost, wait_for_broker
from tests.support.mongo import EmbeddedMongo
from tests.support.processes import ServiceProcess


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("MONGO_URI"):
        yield os.environ["MONGO_URI"]
        return
    server = EmbeddedMongo(tmp_path_factory.mktemp("secantus") / "data").start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_client(mongo_uri: str) -> Iterator[MongoClient]:
    client = MongoClient(mongo_uri, serverSelectionTimeoutMS=10_000, tz_aware=True)
    yield client
    client.close()


@pytest.fixture
def mongo_db_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def mongo_db(mongo_client: MongoClient, mongo_db_name: str) -> Iterator[Database]:
    yield mongo_client[mongo_db_name]
    mongo_client.drop_database(mongo_db_name)


@pytest.fixture(scope="session")
def _broker_up() -> None:
    wait_for_broker()


@pytest.fixture
def rabbitmq_url(_broker_up: None) -> Iterator[str]:
    """AMQP URL of a vhost that exists only for this test."""
    with fresh_vhost() as url:
        yield url


@pytest.fixture
def publisher(rabbitmq_url: str) -> Iterator[Publisher]:
    """A confirmed publisher on the test's vhost, connected."""
    publisher = Publisher(rabbitmq_url).start()
    assert publisher.wait_connected(10)
    yield publisher
    publisher.close()


@pytest.fixture
def service_env(rabbitmq_url: str, mongo_uri: str, mongo_db_name: str) -> dict[str, str]:
    """Environment for a service subprocess wired to this test's vhost and database."""
    return {
        "RABBITMQ_URL": rabbitmq_url,
        "MONGO_URI": mongo_uri,
        "MONGO_DB": mongo_db_name,
        "LOG_LEVEL": "INFO",
        # The seed's flow, as the suite was written for; tests of the Responses backend (the default) override it.
        "MODEL_BACKEND": "assistants",
    }


@pytest.fixture
def start_service(request: pytest.FixtureRequest) -> Iterator[Callable[..., ServiceProcess]]:
    """Start `python -m <module>` as a real process; it is stopped (and its log shown on failure) after the test."""
    started: list[ServiceProcess] = []

    def start(module: str, env: dict[str, str], *args: str, name: str | None = None) -> ServiceProcess:
        process = ServiceProcess(module, env, args, name=name).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for process in started:
            print(f"\n----- log of {process.name} -----\n{process.log()[-5000:]}")
    for process in started:
        Path(process.log_path).unlink(missing_ok=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's), started once for the session when a browser test asks for it."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import FLAGS, chromium_path

    path = chromium_path()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (its own sessionStorage) and page, closed after the test."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()
