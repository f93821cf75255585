"""Generations through the gateway end complete in MongoDB, and every subscriber sees every recipe event."""

import requests

from tests.support.broker import bind_outside_queue
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver, every_recipe_event_reaches_both

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
        receiver.subscribe(system.gateway_url)

        ids = _submit_all(system.gateway_url)
        wait_for(lambda: _completed(mongo_db, ids), timeout=120, message="all generations completed")

        recipes = list(mongo_db.recipes.find({"generation_id": {"$in": ids}}))
        assert len(recipes) == len(ids)
        for recipe in recipes:
            assert recipe["status"] == "complete"
            assert recipe["name"] and len(recipe["ingredients"]) >= 3 and len(recipe["steps"]) >= 3
            numbers = [step["step_number"] for step in recipe["steps"]]
            assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
        every_recipe_event_reaches_both(rabbitmq_url, receiver, recipes, webhook_timeout=90)
        assert receiver.rejected == 0
