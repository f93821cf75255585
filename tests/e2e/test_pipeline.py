"""Generations through the gateway end complete in MongoDB, and every subscriber sees every recipe event."""
import json

import requests

from services.common.schemas import RECIPE_TYPES
from tests.support.broker import bind_outside_queue, get_all
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver

PROMPTS = [f"A weeknight dish number {n} with {food}" for n, food in
           enumerate(("lentils", "chickpeas", "mushrooms", "spinach", "potatoes", "tofu"))]


def _submit_all(gateway_url: str) -> list[str]:
    ids = []
    for prompt in PROMPTS:
        response = requests.post(f"{gateway_url}/v1/generations", json={"prompt": prompt}, timeout=30)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


def _completed(mongo_db, ids):
    return mongo_db.generations.count_documents({"_id": {"$in": ids}, "status": "completed"}) == len(ids)


def test_generations_complete_in_mongodb_and_every_subscriber_sees_every_recipe_event(system, mongo_db,
                                                                                      rabbitmq_url):
    bind_outside_queue(rabbitmq_url, "outside.subscriber", "recipe.#")
    with WebhookReceiver() as receiver:
        created = requests.post(f"{system.gateway_url}/v1/subscriptions",
                                json={"url": receiver.url, "event_types": ["recipe.*"]}, timeout=10)
        assert created.status_code == 201, created.text
        receiver.secret = created.json()["secret"]

        ids = _submit_all(system.gateway_url)
        wait_for(lambda: _completed(mongo_db, ids), timeout=120, message="all generations completed")

        recipes = list(mongo_db.recipes.find({"generation_id": {"$in": ids}}))
        assert len(recipes) == len(ids)
        for recipe in recipes:
            assert recipe["status"] == "complete"
            assert recipe["name"] and len(recipe["ingredients"]) >= 3 and len(recipe["steps"]) >= 3
            numbers = [step["step_number"] for step in recipe["steps"]]
            assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
        # one recipe.created, one per ingredient, one per step, one recipe.completed, per recipe
        expected = sum(2 + len(r["ingredients"]) + len(r["steps"]) for r in recipes)

        seen = {}
        wait_for(lambda: seen.update({p.message_id: json.loads(b) for p, b in
                                      get_all(rabbitmq_url, "outside.subscriber")}) or len(seen) >= expected,
                 timeout=60, message="the outside subscriber's recipe events")
        assert len(seen) == expected
        assert {event["type"] for event in seen.values()} == set(RECIPE_TYPES)
        wait_for(lambda: receiver.event_ids() >= set(seen), timeout=90, message="every webhook delivery")
        assert receiver.event_ids() == set(seen)
        assert receiver.rejected == 0
