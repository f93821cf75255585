"""Helpers for tests of services.common.consumer: a request event, a consumer running in a thread."""
from __future__ import annotations

import threading

from services.common.consumer import Consumer
from services.common.events import CloudEvent, new_event
from services.common.schemas import GENERATION_REQUESTED
from tests.support.waiting import wait_for


def request_event(n: int) -> CloudEvent:
    return new_event(GENERATION_REQUESTED, "test", {"generation_id": f"gen-{n}", "prompt": "soup"}, event_id=f"id-{n}")


def start_consumer(consumer: Consumer) -> threading.Thread:
    """Run ``consumer`` in a daemon thread; return once it consumes."""
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    wait_for(lambda: consumer.consuming, message="consumer ready")
    return thread
