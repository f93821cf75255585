"""MongoDB killed for 120 s mid-pipeline (DELIVERY_LIMIT=2): every generation completes, every recipe event is
delivered to a webhook subscriber, nothing is dead-lettered (issue 14, item 7)."""
import threading

import pytest
import requests
from pymongo import MongoClient

from services.common import topology
from tests.support.broker import bind_outside_queue, queue_depth
from tests.support.mongo import EmbeddedMongo
from tests.support.system import System
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver, every_recipe_event_reaches_both

pytestmark = pytest.mark.slow

GENERATIONS = 6
OUTAGE_SECONDS = 120.0


def _count(server: EmbeddedMongo, db_name: str, collection: str, query: dict) -> int:
    with MongoClient(server.uri, serverSelectionTimeoutMS=5000) as client:
        return client[db_name][collection].count_documents(query)


def test_a_mongodb_outage_mid_pipeline_is_waited_out_by_every_service(tmp_path, service_env, start_service,
                                                                      rabbitmq_url, mongo_db_name):
    server = EmbeddedMongo(tmp_path / "db").start()  # this test's own MongoDB: it is killed below
    try:
        env = {**service_env, "MONGO_URI": server.uri, "DELIVERY_LIMIT": "2"}
        # A slow model: the outage lands while runs are in progress, not after they are done.
        system = System(env=env, start_service=start_service, emulator_args=("--think-ms", "1500")).start_all()
        bind_outside_queue(rabbitmq_url, "outside.subscriber", "recipe.#")
        with WebhookReceiver() as receiver:
            receiver.subscribe(system.gateway_url)
            ids = []
            for n in range(GENERATIONS):
                answer = requests.post(f"{system.gateway_url}/v1/generations",
                                       json={"prompt": f"A dish number {n} with lentils"}, timeout=30)
                assert answer.status_code == 202, answer.text
                ids.append(answer.json()["id"])
            wait_for(lambda: _count(server, mongo_db_name, "generation_events", {}) >= 2, timeout=60,
                     message="the pipeline under way")
            assert _count(server, mongo_db_name, "generations", {"status": "completed"}) < GENERATIONS
            server.kill()
            threading.Event().wait(OUTAGE_SECONDS)  # the outage itself: its length is the point of the test
            server.start()

            wait_for(lambda: _count(server, mongo_db_name, "generations",
                                    {"_id": {"$in": ids}, "status": {"$in": ["completed", "failed"]}}) == len(ids),
                     timeout=240, interval=0.5, message="every generation finished")
            assert _count(server, mongo_db_name, "generations", {"status": "completed"}) == len(ids)
            with MongoClient(server.uri, serverSelectionTimeoutMS=5000) as client:
                recipes = list(client[mongo_db_name].recipes.find({"generation_id": {"$in": ids}}))
            assert len(recipes) == len(ids)
            assert all(r["status"] == "complete" and len(r["ingredients"]) >= 3 and len(r["steps"]) >= 3
                       for r in recipes)
            every_recipe_event_reaches_both(rabbitmq_url, receiver, recipes, webhook_timeout=120)
        for spec in topology.WORK_QUEUES:
            assert queue_depth(rabbitmq_url, spec.dead_letter_queue) == 0, spec.name
    finally:
        server.stop()
