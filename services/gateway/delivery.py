"""Webhook delivery (service layer): each recipe event to every matching subscriber, signed, retried.

One record per (subscription, event) in ``webhook_deliveries`` makes delivery
idempotent across redeliveries: a record that is ``delivered`` or ``failed``
is final. A failing target is retried with exponential backoff and jitter
until ``webhook_give_up`` seconds after its first attempt; then the record is
``failed`` and keeps the whole event (the dead letter an operator can replay).
Subscribers are served in parallel, so one slow target does not hold up the
others, and the handler returns (the message is acked) only when every
matching subscriber's record is final.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Mapping

import requests
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

from services.common.consumer import Delivery, PoisonMessage
from services.common.events import CloudEvent, InvalidEvent, decode
from services.gateway.mongo import GatewayStore
from services.gateway.options import GatewayOptions
from services.gateway.signing import webhook_headers
from services.gateway.targets import RefusedTarget, check_target

log = logging.getLogger(__name__)
FINAL = ("delivered", "failed")


class AttemptFailed(Exception):
    def __init__(self, detail: str, status_code: int | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code


class Deliverer:
    def __init__(self, store: GatewayStore, options: GatewayOptions, *, allow_private: bool,
                 parallel: int = 32) -> None:
        self._store = store
        self._options = options
        self._allow_private = allow_private
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="webhook")

    def handle(self, delivery: Delivery) -> None:
        """Deliver one recipe event to every matching subscriber; return when all are recorded."""
        try:
            event = decode(delivery.body)
        except InvalidEvent as exc:
            raise PoisonMessage(exc.reason) from None
        subscriptions = self._store.subscriptions_for(event.type)
        futures = [self._pool.submit(self.deliver, subscription, event, delivery.body)
                   for subscription in subscriptions]
        for future in futures:
            future.result()  # a failure to record raises: the message is requeued

    def deliver(self, subscription: Mapping[str, Any], event: CloudEvent, body: bytes) -> dict[str, Any]:
        record_id = f"{subscription['_id']}:{event.id}"
        record = self._store.delivery(record_id)
        if record is not None and record["status"] in FINAL:
            return record
        record = record or {
            "_id": record_id, "subscription_id": subscription["_id"], "url": subscription["url"],
            "event_id": event.id, "event_type": event.type, "event": event.to_dict(),
            "status": "delivering", "attempts": 0, "created_at": datetime.now(timezone.utc),
        }
        self._store.save_delivery(record)
        elapsed = (datetime.now(timezone.utc) - record["created_at"]).total_seconds()
        retrying = Retrying(
            retry=retry_if_exception_type(AttemptFailed),
            wait=wait_exponential_jitter(multiplier=0.2, max=self._options.webhook_max_backoff),
            stop=stop_after_delay(max(self._options.webhook_give_up - elapsed, 0)),
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._attempt(subscription, event, body, record)
            record["status"] = "delivered"
        except (RetryError, RefusedTarget) as exc:
            record["status"] = "failed"
            if isinstance(exc, RefusedTarget):
                record["last_error"] = f"target refused: {exc}"
            log.warning("webhook delivery given up", extra={"delivery": record_id, "attempts": record["attempts"],
                                                           "error": record.get("last_error")})
        record["finished_at"] = datetime.now(timezone.utc)
        self._store.save_delivery(record)
        return record

    def _attempt(self, subscription: Mapping[str, Any], event: CloudEvent, body: bytes,
                 record: dict[str, Any]) -> None:
        check_target(subscription["url"], allow_private=self._allow_private)  # again: DNS may have changed
        record["attempts"] += 1
        headers = webhook_headers(subscription["secret"], event.id, int(time.time()), body)
        try:
            response = requests.post(subscription["url"], data=body, headers=headers,
                                     timeout=self._options.webhook_timeout, allow_redirects=False)
            response.close()
        except requests.RequestException as exc:
            record.update(last_status_code=None, last_error=f"{type(exc).__name__}: {exc}"[:500])
            self._store.save_delivery(record)
            raise AttemptFailed(record["last_error"]) from None
        record["last_status_code"] = response.status_code
        if 200 <= response.status_code < 300:
            record["last_error"] = None
            return
        record["last_error"] = f"HTTP {response.status_code}"
        self._store.save_delivery(record)
        raise AttemptFailed(record["last_error"], response.status_code)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
