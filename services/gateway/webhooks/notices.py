"""The ``subscription.disabled`` notice: published on the broker, and sent once to the subscription's URL.

The one attempt to the URL is recorded like any delivery (the subscription's delivery log shows
whether it arrived); it is not retried, since the receiver has just failed for days or said 410 Gone.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable, Mapping

from services.common.events import CloudEvent, derived_event_id, encode, new_event
from services.common.schemas import SUBSCRIPTION_DISABLED
from services.gateway.mongo import WebhookRecords
from services.gateway.views import iso
from services.gateway.webhooks.records import RetryPolicy, after_attempt, new_record
from services.gateway.webhooks.sender import Sender

log = logging.getLogger(__name__)

Publish = Callable[[CloudEvent], None]
_ONCE = RetryPolicy(schedule=(0,))


def disabled_event(subscription: Mapping[str, Any]) -> CloudEvent:
    data = {"subscription_id": subscription["_id"], "url": subscription["url"],
            "reason": subscription["disabled_reason"], "disabled_at": iso(subscription["disabled_at"])}
    if subscription.get("owner"):
        data["owner"] = subscription["owner"]
    # One id per disabling: a publish retried after a lost confirm is a duplicate consumers drop.
    return new_event(SUBSCRIPTION_DISABLED, "gateway", data, subject=subscription["_id"],
                     event_id=derived_event_id(data["subscription_id"], "subscription.disabled", data["disabled_at"]))


class Notices:
    def __init__(self, records: WebhookRecords, sender: Sender, publish: Publish,
                 clock: Callable[[], datetime]) -> None:
        self._records = records
        self._sender = sender
        self._publish = publish
        self._clock = clock

    def disabled(self, subscription: Mapping[str, Any]) -> None:
        """Announce a subscription this process just disabled (``subscription``: the disabled document)."""
        event = disabled_event(subscription)
        log.warning("webhook subscription disabled", extra={"subscription": subscription["_id"],
                                                            "reason": subscription["disabled_reason"]})
        try:
            self._publish(event)
        except Exception:  # the subscription stays disabled; the notice to its URL still goes
            log.exception("subscription.disabled not published", extra={"subscription": subscription["_id"]})
        record = new_record(subscription, event, encode(event), self._clock())
        outcome = self._sender.send(subscription, record, even_if_disabled=True)
        self._records.add_deliveries([after_attempt(record, outcome, self._clock(), _ONCE)])
