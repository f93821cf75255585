"""The deliverer attempts what it records at once: the records its scheduler can attempt now are
inserted already claimed and handed over, so nothing reads them back before their POST
(services/gateway/webhooks/recorder.py, scheduler.py ``claim_new``; records.py ``handoff_plan``)."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone
from typing import Iterator

import pytest
from pika.spec import BasicProperties
from pymongo import MongoClient, monitoring

from services.common.config import load_settings
from services.common.delivery import Delivery, Received
from services.common.events import encode
from services.gateway.mongo import RequestRecords, WebhookRecords
from services.gateway.webhooks.recorder import Recorder
from services.gateway.webhooks.records import PER_RECIPE, handoff_plan
from services.gateway.webhooks.scheduler import Scheduler
from services.gateway.webhooks.sender import Sender
from services.gateway.webhooks.signing import new_secret
from tests.gateway.test_webhooks import recipe_events
from tests.support.waiting import wait_for
from tests.support.webhooks import WebhookReceiver


class Commands(monitoring.CommandListener):
    """Each command sent to the deliverer's collections: (the sending thread, its name, collection)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        collection = event.command.get(event.command_name)
        if collection in ("webhook_deliveries", "subscriptions", "gateway_requests"):
            with self._lock:
                self.sent.append((threading.current_thread().name.split("_")[0], event.command_name, collection))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def by(self, thread: str) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter((name, collection) for sender, name, collection in self.sent if sender == thread)


@pytest.fixture
def deliverer(mongo_uri, mongo_db_name) -> Iterator[tuple[WebhookRecords, Recorder, Commands]]:
    """The deliverer's recorder and scheduler in this process, on the real database, as bootstrap wires them."""
    commands = Commands()
    client: MongoClient = MongoClient(mongo_uri, tz_aware=True, event_listeners=[commands])
    db = client[mongo_db_name]
    records = WebhookRecords(db)
    records.ensure_indexes()
    commands.sent.clear()
    scheduler = Scheduler(records, Sender(allow_private=True, timeout=5.0, allow_http=True),
                          load_settings({"WEBHOOK_ATTEMPTS_PER_TARGET": "2"})).start()
    try:
        yield records, Recorder(records, RequestRecords(db), handoff=scheduler), commands
    finally:
        scheduler.close()
        client.close()


def subscribe(records: WebhookRecords, name: str, url: str, **settings: object) -> None:
    records.add_subscription({"_id": name, "url": url, "event_types": ["recipe.*"], "status": "enabled",
                              "secret": new_secret(), "created_at": datetime.now(timezone.utc), **settings})


def received(events) -> list[Received]:
    return [Received(event, Delivery(encode(event), BasicProperties(), event.type, False))
            for event in events]


def test_a_recorded_delivery_is_posted_without_a_claim_round(deliverer):
    records, recorder, commands = deliverer
    with WebhookReceiver() as receiver:
        subscribe(records, "plain", receiver.url)
        event = recipe_events()[0]
        before = commands.by("MainThread")
        recorder.handle(received([event]))
        recording = commands.by("MainThread") - before
        wait_for(lambda: records.deliveries.find_one({"_id": f"plain:{event.id}", "status": "delivered"}),
                 timeout=10, message="the delivery attempted and saved")
    assert receiver.event_ids() == {event.id}
    assert records.deliveries.find_one({"_id": f"plain:{event.id}"})["attempts"] == 1
    # The recorder (here the test's thread) read the subscriptions once (not the event's owner: this
    # subscriber gets everyone's) and inserted the record, claimed;
    # the attempt's thread sent only the outcome (no read of the record or its subscription); the
    # scheduler claimed nothing (its rounds found nothing due).
    assert recording == Counter({("find", "subscriptions"): 1, ("update", "webhook_deliveries"): 1})
    assert commands.by("webhook") == Counter({("update", "webhook_deliveries"): 1})
    assert ("update", "webhook_deliveries") not in commands.by("webhook-scheduler")


def test_ordered_rate_limited_and_slotless_records_go_through_the_claim_rounds(deliverer):
    records, recorder, commands = deliverer
    with WebhookReceiver() as receiver:
        subscribe(records, "plain", receiver.url)  # WEBHOOK_ATTEMPTS_PER_TARGET=2: two of its three at once
        subscribe(records, "ordered", receiver.url, ordering=PER_RECIPE)
        subscribe(records, "limited", receiver.url, rate_limit=100)
        events = recipe_events()[:3]
        recorder.handle(received(events))
        wait_for(lambda: records.deliveries.count_documents({"status": "delivered"}) == 9, timeout=20,
                 message="all nine deliveries")
    # Seven claimed by the scheduler's rounds (an update each): the ordered three, the limited three
    # and the plain one past its two slots; the plain two were claimed by the insert.
    assert commands.by("webhook-scheduler")[("update", "webhook_deliveries")] == 7
    assert receiver.count() == 9


def test_the_handoff_plan_leaves_order_rate_limits_and_full_slots_to_the_scheduler():
    subscriptions = {"plain": {}, "ordered": {"ordering": PER_RECIPE}, "limited": {"rate_limit": 5.0},
                     "busy": {}}
    batch = [{"subscription_id": name} for name in ("ordered", "plain", "limited", "plain", "busy", "plain", "busy")]
    assert handoff_plan(batch, subscriptions, {"busy": 1}, per_target=2, free=10) == [1, 3, 4]
    assert handoff_plan(batch, subscriptions, {}, per_target=2, free=2) == [1, 3]  # the process's free slots
    assert handoff_plan(batch, {"plain": {}}, {}, per_target=4, free=10) == [1, 3, 5]  # a deleted subscription's
