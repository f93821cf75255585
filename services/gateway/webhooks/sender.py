"""One webhook attempt: the target checked again, the event signed and POSTed to the checked address."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from http.client import HTTPException
from typing import Any, Mapping

from services.gateway.webhooks.pinned import post_pinned
from services.gateway.webhooks.records import Outcome, retry_after_seconds
from services.gateway.webhooks.signing import previous_secrets, webhook_headers
from services.gateway.webhooks.targets import ALLOWED_PORTS, RefusedTarget, check_target


class Sender:
    def __init__(self, *, allow_private: bool, timeout: float, ports: frozenset[int] = ALLOWED_PORTS,
                 allow_http: bool = False) -> None:
        self._allow_private = allow_private
        self._allow_http = allow_http
        self._ports = ports
        self._timeout = timeout

    def send(self, subscription: Mapping[str, Any] | None, record: Mapping[str, Any], *,
             even_if_disabled: bool = False) -> Outcome:
        """Attempt ``record`` once to ``subscription`` (None: it was deleted); a disabled subscription's
        records are refused, except its own ``subscription.disabled`` notice (``even_if_disabled``)."""
        if subscription is None:
            return Outcome.refused("the subscription was deleted")
        if subscription.get("status") == "disabled" and not even_if_disabled:
            return Outcome.refused("the subscription is disabled")
        try:
            # Checked again before every attempt (DNS may have changed), and sent to the address checked.
            target, addresses = check_target(subscription["url"], allow_private=self._allow_private,
                                             ports=self._ports, allow_http=self._allow_http)
        except RefusedTarget as exc:
            return Outcome.refused(str(exc))
        body = record["body"].encode("utf-8")
        headers = webhook_headers(subscription["secret"], record["event_id"], int(time.time()), body,
                                  also=previous_secrets(subscription, datetime.now(timezone.utc)))
        started = time.monotonic()
        try:
            answer = post_pinned(target, addresses[0], body, headers, deadline=self._timeout)
        except (OSError, HTTPException) as exc:
            return Outcome.failed(f"{type(exc).__name__}: {exc}"[:500], duration=time.monotonic() - started)
        duration = time.monotonic() - started
        # Only a 2xx is a success: a 3xx is a failure (redirects are never followed, pinned.py).
        if 200 <= answer.status_code < 300:
            return Outcome.delivered(answer.status_code, duration)
        if answer.status_code == 410:
            return Outcome.gone(duration)
        return Outcome.failed(f"HTTP {answer.status_code}", answer.status_code, duration,
                              retry_after_seconds(answer.retry_after, datetime.now(timezone.utc)))
