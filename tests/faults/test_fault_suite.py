"""Under a steady load of generations, crash and restart every part of the system; nothing is lost or doubled.

Disruptions, one after another while requests keep coming: kill -9 of the
runner, the store and the gateway (each restarted), a RabbitMQ restart
(stop_app / start_app), the database killed and restarted, poison messages,
and the emulator's 429 / 500 / malformed-argument faults throughout.
"""
from __future__ import annotations

import threading
import time
import uuid

import pika
import pytest
import requests
from pymongo import MongoClient

from services.common import topology
from tests.support.broker import get_all, rabbitmqctl, wait_for_broker
from tests.support.mongo import EmbeddedMongo
from tests.support.recipes import check_recipe
from tests.support.system import System
from tests.support.waiting import wait_for

GENERATIONS = 36
EMULATOR_FAULTS = "rate_limit=0.05,server_error=0.05,malformed_args=0.05,wrong_types=0.05,unknown_function=0.03"


class LoadGenerator:
    """Submits generations at a steady pace; a refused or failed request is retried with the same Idempotency-Key."""

    def __init__(self, gateway_url: str, count: int, interval: float) -> None:
        self.gateway_url, self.count, self.interval = gateway_url, count, interval
        self.accepted: dict[str, str] = {}  # generation id -> prompt
        self.retries = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _submit(self, prompt: str) -> str:
        key = str(uuid.uuid4())
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                response = requests.post(f"{self.gateway_url}/v1/generations", json={"prompt": prompt},
                                         headers={"Idempotency-Key": key}, timeout=10)
                if response.status_code == 202:
                    return response.json()["id"]
            except requests.RequestException:
                pass
            self.retries += 1
            time.sleep(0.5)
        raise AssertionError(f"request for {prompt!r} never accepted")

    def _run(self) -> None:
        for n in range(self.count):
            prompt = f"Fault suite dish {n}: {('stew', 'curry', 'salad', 'bake')[n % 4]} number {n}"
            self.accepted[self._submit(prompt)] = prompt
            time.sleep(self.interval)


def _publish_raw(url: str, routing_key: str, body: bytes, message_id: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_publish(topology.EXCHANGE, routing_key, body,
                          pika.BasicProperties(message_id=message_id, delivery_mode=2), mandatory=True)
    connection.close()


@pytest.mark.slow
def test_the_system_converges_to_exact_data_through_crashes_and_restarts(service_env, start_service, tmp_path,
                                                                        rabbitmq_url):
    mongo = EmbeddedMongo(tmp_path / "mongo").start()
    env = {**service_env, "MONGO_URI": mongo.uri}
    system = System(env=env, start_service=start_service, emulator_args=("--faults", EMULATOR_FAULTS, "--seed", "7"))
    client = MongoClient(mongo.uri, serverSelectionTimeoutMS=30_000)
    try:
        system.start_all()
        load = LoadGenerator(system.gateway_url, GENERATIONS, interval=0.4)
        load.thread.start()

        disruptions = [
            ("kill -9 runner", lambda: system.restart("runner")),
            ("kill -9 store", lambda: system.restart("store")),
            ("kill -9 gateway", lambda: system.restart("gateway")),
            ("RabbitMQ stop_app / start_app", _restart_broker),
            ("kill -9 database, restart", lambda: _restart_database(mongo)),
            ("poison messages", lambda: (
                _publish_raw(rabbitmq_url, "toolcall.add_step", b"{not json", "poison-store"),
                _publish_raw(rabbitmq_url, "generation.requested", b'{"specversion": "0.1"}', "poison-runner"))),
        ]
        for n, (label, action) in enumerate(disruptions, 1):
            # Spread the disruptions over the load: the n-th waits for n/(k+1) of the requests.
            share = GENERATIONS * n // (len(disruptions) + 1)
            wait_for(lambda share=share: len(load.accepted) >= share or not load.thread.is_alive(), timeout=120,
                     message="load progress")
            print(f"fault suite: {label} (after {len(load.accepted)} accepted requests)", flush=True)
            action()
        load.thread.join(240)
        assert len(load.accepted) == GENERATIONS

        db = client[env["MONGO_DB"]]
        ids = list(load.accepted)
        wait_for(lambda: db.generations.count_documents(
            {"_id": {"$in": ids}, "status": {"$in": ["completed", "failed"]}}) == len(ids),
            timeout=300, interval=1, message="every generation terminal")
        wait_for(lambda: db.recipes.count_documents({"generation_id": {"$in": ids}, "status": "complete"}) == len(ids),
                 timeout=60, interval=1, message="every recipe complete")

        totals = {"lost_ingredients": 0, "doubled_ingredients": 0, "lost_steps": 0, "doubled_steps": 0}
        failed = db.generations.count_documents({"_id": {"$in": ids}, "status": "failed"})
        recipes_per_generation = {}
        for generation_id, prompt in load.accepted.items():
            docs = list(db.recipes.find({"generation_id": generation_id}))
            recipes_per_generation[generation_id] = len(docs)
            for doc in docs:
                check = check_recipe(doc, prompt)
                for name in totals:
                    totals[name] += getattr(check, name)
        dead_store = {p.message_id for p, _ in get_all(rabbitmq_url, topology.STORE_EVENTS.dead_letter_queue)}
        dead_runner = {p.message_id for p, _ in get_all(rabbitmq_url, topology.RUNNER_GENERATIONS.dead_letter_queue)}
        print(f"\nfault suite: generations={len(ids)} completed={len(ids) - failed} failed={failed} "
              f"client_retries={load.retries} " + " ".join(f"{k}={v}" for k, v in totals.items()) +
              f" dead_letters_store={sorted(dead_store)} dead_letters_runner={sorted(dead_runner)}")
        assert failed == 0
        assert set(recipes_per_generation.values()) == {1}
        assert totals == {"lost_ingredients": 0, "doubled_ingredients": 0, "lost_steps": 0, "doubled_steps": 0}
        assert "poison-store" in dead_store and "poison-runner" in dead_runner
    finally:
        client.close()
        for process in system.processes.values():
            process.kill()
        mongo.kill()


def _restart_broker() -> None:
    rabbitmqctl("stop_app")
    time.sleep(2)
    rabbitmqctl("start_app")
    wait_for_broker()


def _restart_database(mongo: EmbeddedMongo) -> None:
    mongo.kill()
    time.sleep(2)
    mongo.start()
