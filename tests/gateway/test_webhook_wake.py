"""The scheduler is woken by the records it must attempt, not by a short timer: while work is blocked
it sleeps until the blocking record's retry is due (services/gateway/webhooks/scheduler.py)."""
from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from pymongo import MongoClient, monitoring

from services.common.config import load_settings
from services.gateway.mongo import WebhookRecords
from services.gateway.webhooks.records import PENDING_DELIVERY, PER_RECIPE
from services.gateway.webhooks.scheduler import Scheduler
from services.gateway.webhooks.sender import Sender
from tests.support.waiting import wait_for


class Commands(monitoring.CommandListener):
    """Counts the commands a client sends, by name."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._lock:
            self.sent[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def total(self) -> int:
        with self._lock:
            return sum(self.sent.values())


def blocked_chain(records: WebhookRecords, now: datetime) -> None:
    """A per_recipe recipe whose first delivery retries in an hour: its second is due but must wait."""
    records.add_subscription({"_id": "sub-1", "url": "http://127.0.0.1:9/", "ordering": PER_RECIPE,
                              "event_types": ["recipe.*"], "created_at": now})
    records.deliveries.insert_many([
        {"_id": f"sub-1:ev-{n}", "subscription_id": "sub-1", "status": PENDING_DELIVERY, "ordering_key": "soup",
         "sequence": str(n), "next_attempt_at": due, "lease_until": None, "created_at": now}
        for n, due in ((1, now + timedelta(hours=1)), (2, now))])


def test_an_idle_deliverer_with_a_blocked_per_recipe_chain_makes_few_queries(mongo_uri, mongo_db_name):
    commands = Commands()
    client: MongoClient = MongoClient(mongo_uri, tz_aware=True, event_listeners=[commands])
    records = WebhookRecords(client[mongo_db_name])
    blocked_chain(records, datetime.now(timezone.utc))
    sent_before = commands.total()
    scheduler = Scheduler(records, Sender(allow_private=True, timeout=1.0), load_settings({})).start()
    try:
        wait_for(lambda: commands.sent["find"] >= 2, timeout=10, message="the scheduler's first round")
        start = commands.total()
        time.sleep(1.0)  # the measurement window, not a barrier: queries an idle second costs
        during = commands.total() - start
    finally:
        scheduler.close()
        client.close()
    assert sent_before > 0 and during <= 3, commands.sent  # was a round every 10 ms: hundreds a second
