"""A claim round's queries are served by an index on the real SecantusDB, however many final records
``webhook_deliveries`` holds: each filter is equalities plus at most one range, on an index holding
every field of it (BENCHMARKS.md "Webhooks: durable -> webhook receiver": the old unclaimed clause, a
top-level ``$or`` on ``lease_until``, was a collection scan per query, slower every round)."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo import MongoClient, monitoring
from pymongo.database import Database

from services.gateway.mongo import WebhookRecords
from services.gateway.webhooks.records import PENDING_DELIVERY, PER_RECIPE

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
COMMANDS = ("find", "distinct", "update", "findAndModify")


class Filters(monitoring.CommandListener):
    """The filter of every read and update the client sends to ``webhook_deliveries``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        if event.command_name in COMMANDS and command.get(event.command_name) == "webhook_deliveries":
            queries = [update["q"] for update in command["updates"]] if event.command_name == "update" else \
                [command.get("filter", command.get("query", {}))]
            with self._lock:
                self.sent.extend((event.command_name, dict(query), command.get("sort")) for query in queries)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def plan_stages(db: Database, query: dict[str, Any], sort: dict[str, Any] | None = None) -> list[str]:
    """The stages of SecantusDB's winning plan for ``find(query)``, outermost first."""
    command: dict[str, Any] = {"find": "webhook_deliveries", "filter": query, **({"sort": sort} if sort else {})}
    stage = db.command("explain", command, verbosity="queryPlanner")["queryPlanner"]["winningPlan"]
    stages = []
    while stage:
        stages.append(stage["stage"])
        stage = stage.get("inputStage")
    return stages


def final_and_pending(records: WebhookRecords) -> None:
    """Many final records (the history a busy deployment keeps), a few pending, one of them claimed."""
    for subscription_id, ordering in (("plain", None), ("ordered", PER_RECIPE)):
        records.add_subscription({"_id": subscription_id, "url": "http://127.0.0.1:9/", "event_types": ["recipe.*"],
                                  "ordering": ordering, "created_at": NOW})
    base = {"attempts": 1, "created_at": NOW, "ordering_key": "soup", "lease_until": None}
    records.deliveries.insert_many(
        [{**base, "_id": f"plain:old-{n}", "subscription_id": "plain", "status": "delivered",
          "next_attempt_at": None, "sequence": str(n)} for n in range(300)]
        + [{**base, "_id": f"{sub}:new-{n}", "subscription_id": sub, "status": PENDING_DELIVERY,
            "next_attempt_at": NOW - timedelta(seconds=n), "sequence": str(1000 + n)}
           for sub in ("plain", "ordered") for n in range(3)])


def test_every_query_of_a_claim_round_is_an_index_scan(mongo_uri, mongo_db_name):
    filters = Filters()
    client: MongoClient = MongoClient(mongo_uri, tz_aware=True, event_listeners=[filters])
    try:
        db = client[mongo_db_name]
        records = WebhookRecords(db)
        records.ensure_indexes()
        final_and_pending(records)
        filters.sent.clear()
        # What the scheduler asks in one round, then between rounds (services/gateway/webhooks/scheduler.py).
        assert records.subscriptions_due(NOW) == ["ordered", "plain"]
        assert len(records.due_deliveries(NOW, limit=10)) == 6
        claimed = records.lease_delivery(records.due_deliveries(NOW, 1, "plain")[0]["_id"], NOW,
                                         NOW + timedelta(seconds=30))
        assert claimed is not None and claimed["next_attempt_at"] == NOW + timedelta(seconds=30)
        assert len(records.pending_in_order("ordered")) == 3
        assert records.next_change_at(NOW) == NOW + timedelta(seconds=30)  # the claim's expiry
        # No findAndModify: SecantusDB writes it with {_id, $and: [query]}, a collection scan whatever the query.
        assert {name for name, _, _ in filters.sent} == {"find", "distinct", "update"}
        plans = {repr(query): plan_stages(db, query, sort) for _, query, sort in filters.sent}
        assert all("IXSCAN" in stages and "COLLSCAN" not in stages for stages in plans.values()), plans
        # The shape that was replaced, for contrast: the same planner scans the collection for it.
        unclaimed_or = {"status": PENDING_DELIVERY, "next_attempt_at": {"$lte": NOW},
                        "$or": [{"lease_until": None}, {"lease_until": {"$lte": NOW}}]}
        assert plan_stages(db, unclaimed_or) == ["COLLSCAN"]
    finally:
        client.drop_database(mongo_db_name)
        client.close()


def test_a_live_claim_is_not_due_and_an_expired_one_is_due_again(mongo_db):
    records = WebhookRecords(mongo_db)
    records.ensure_indexes()
    final_and_pending(records)
    first = records.due_deliveries(NOW, 1, "plain")[0]["_id"]
    assert records.lease_delivery(first, NOW, NOW + timedelta(seconds=30)) is not None
    assert records.lease_delivery(first, NOW, NOW + timedelta(seconds=30)) is None  # one claim at a time
    assert first not in {doc["_id"] for doc in records.due_deliveries(NOW, 10)}
    expired = NOW + timedelta(seconds=31)  # its deliverer died: the claim expired
    assert first in {doc["_id"] for doc in records.due_deliveries(expired, 10)}
    assert records.lease_delivery(first, expired, expired + timedelta(seconds=30)) is not None


def test_a_claim_made_before_claims_moved_next_attempt_at_is_kept_at_start_up(mongo_db):
    """A record an older deliverer claimed (``lease_until`` ahead, ``next_attempt_at`` past) is not
    handed out again once the indexes are ensured; records stored with ``lease_until`` None are due."""
    records = WebhookRecords(mongo_db)
    final_and_pending(records)
    records.deliveries.create_index([("status", 1), ("lease_until", 1)])  # the claims-expiring index of then
    records.deliveries.update_one({"_id": "plain:new-0"}, {"$set": {"lease_until": NOW + timedelta(seconds=30),
                                                                     "lease_token": "old"}})
    records.ensure_indexes()
    due = {doc["_id"] for doc in records.due_deliveries(NOW, 10)}
    assert due == {"plain:new-1", "plain:new-2", "ordered:new-0", "ordered:new-1", "ordered:new-2"}
    assert records.next_change_at(NOW) == NOW + timedelta(seconds=30)
    assert "status_1_lease_until_1" not in records.deliveries.index_information()  # no longer queried
