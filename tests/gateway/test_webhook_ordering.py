"""``"ordering": "per_recipe"``: a recipe's events reach the subscriber one at a time, in the store's order."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

from services.common.events import new_event
from services.common.schemas import RECIPE_COMPLETED, RECIPE_CREATED, RECIPE_INGREDIENT_ADDED, RECIPE_STEP_ADDED
from services.gateway.webhooks.records import PENDING_DELIVERY, claim_fields, ordered_heads
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver

RECIPES, START = 8, datetime(2026, 1, 1, tzinfo=timezone.utc)


def interleaved_recipe_events():
    """Several recipes' events as the store announces them while generations run side by side: each
    recipe's in its own order, the recipes interleaved, each event a millisecond after the one before."""
    events = []
    for step in range(6):
        for recipe in range(RECIPES):
            ref = {"generation_id": f"gen-{recipe}", "recipe_id": f"soup-{recipe:08d}"}
            event_type, data = (
                (RECIPE_CREATED, {"name": "Soup", "description": "Hot."}) if step == 0 else
                (RECIPE_COMPLETED, {"ingredient_count": 2, "step_count": 2}) if step == 5 else
                (RECIPE_INGREDIENT_ADDED, {"ingredient": f"leek {step}", "quantity": "2"}) if step < 3 else
                (RECIPE_STEP_ADDED, {"step_number": step - 2, "instructions": "Chop."}))
            event = new_event(event_type, "store", {**ref, **data}, subject=ref["recipe_id"])
            at = START + timedelta(milliseconds=len(events))
            events.append(dataclasses.replace(event, time=at.isoformat(timespec="milliseconds")[:-6] + "Z"))
    return events


def by_recipe(event_ids: list[str], events) -> dict[str, list[str]]:
    recipe_of = {event.id: event.data["recipe_id"] for event in events}
    order: dict[str, list[str]] = {}
    for event_id in event_ids:
        order.setdefault(recipe_of[event_id], []).append(event_id)
    return order


def test_per_recipe_ordering_keeps_each_recipes_order_under_parallel_load_and_retries(
        start_service, gateway_env, gateway, publish):
    for name in ("deliverer-1", "deliverer-2"):  # two processes share the work
        start_service("services.gateway", gateway_env, "deliver", name=name)
    with WebhookReceiver(fail_first=10, delay_seconds=0.05) as ordered, WebhookReceiver(delay_seconds=0.05) as free:
        created = gateway.post("/v1/subscriptions", json={"url": ordered.url, "event_types": ["recipe.*"],
                                                          "ordering": "per_recipe"}).json()
        assert created["ordering"] == "per_recipe"
        assert gateway.subscribe(free.url)["ordering"] == "unordered"
        events = interleaved_recipe_events()
        publish(events)
        wait_for(lambda: ordered.count() == len(events) and free.count() == len(events), timeout=90,
                 message="every event to both subscribers")
    received = [json.loads(body)["id"] for _, body in ordered.deliveries]
    assert len(received) == len(set(received))  # each once
    assert by_recipe(received, events) == by_recipe([event.id for event in events], events)
    assert ordered.most_at_once > 1  # recipes still go in parallel, one event of each at a time


def pending(key: str, sequence: str, due: datetime, claimed_until: datetime | None = None) -> dict:
    return {"_id": f"s:{key}:{sequence}", "ordering_key": key, "sequence": sequence, "status": PENDING_DELIVERY,
            "next_attempt_at": due, "lease_until": None,
            **(claim_fields(claimed_until, "t") if claimed_until else {})}


def test_only_the_first_pending_delivery_of_each_recipe_may_be_attempted():
    now = START
    records = [pending("a", "2", now), pending("a", "1", now + timedelta(seconds=5)),  # a's first retries later
               pending("b", "1", now - timedelta(seconds=1)), pending("b", "2", now),
               pending("c", "1", now, claimed_until=now + timedelta(seconds=9)), pending("c", "2", now)]
    assert [record["_id"] for record in ordered_heads(records, now, limit=10)] == ["s:b:1"]
    # c's claim expired (its deliverer died): c's first is due again, still before c's second.
    later = [record["_id"] for record in ordered_heads(records, now + timedelta(seconds=9), limit=10)]
    assert "s:c:1" in later and "s:c:2" not in later
