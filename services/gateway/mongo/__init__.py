"""The gateway's MongoDB adapter, one class per aggregate over one client.

* ``read_model.py`` (``ReadModel``): reads ``generations``, ``recipes``,
  ``generation_events``, written by the store (names from services/common/vocabulary.py).
* ``requests.py`` (``RequestRecords``): writes and reads ``gateway_requests``.
* ``webhooks.py`` (``WebhookRecords``): ``subscriptions`` and ``webhook_deliveries``.

Every filter is built from validated plain strings, never from client JSON.
"""
from __future__ import annotations

from pymongo import MongoClient

from services.gateway.mongo.read_model import FINAL_STATUSES, ReadModel
from services.gateway.mongo.requests import RequestRecords
from services.gateway.mongo.webhooks import WebhookRecords

__all__ = ["FINAL_STATUSES", "GatewayStore", "ReadModel", "RequestRecords", "WebhookRecords"]


class GatewayStore:
    def __init__(self, client: MongoClient, db_name: str) -> None:
        self.client = client
        db = client[db_name]
        self.read_model = ReadModel(db)
        self.requests = RequestRecords(db)
        self.webhooks = WebhookRecords(db)

    def ensure_indexes(self) -> None:
        self.webhooks.ensure_indexes()  # the read model's are the store's; request records need only _id

    def close(self) -> None:
        self.client.close()

    def ping(self) -> bool:
        self.client.admin.command("ping")
        return True
