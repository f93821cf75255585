"""ResponseWaiter: each runner's own queue of model.response_finished events wakes the right waiter."""
from __future__ import annotations

import threading
import time

import pytest

from services.common import schemas
from services.common.events import new_event
from services.common.publisher import Publisher
from services.runner.model_events import ResponseWaiter
from tests.support.broker import close_connections
from tests.support.waiting import wait_for


def _finished(response_id: str):
    data = {"response_id": response_id, "webhook_type": "response.completed", "webhook_id": f"wh_{response_id}"}
    return new_event(schemas.MODEL_RESPONSE_FINISHED, "test", data, subject=response_id)


@pytest.fixture
def waiters(rabbitmq_url):
    started = [ResponseWaiter(rabbitmq_url, reconnect_delay=0.2).start() for _ in range(2)]
    publisher = Publisher(rabbitmq_url, name="test").start()
    yield started, publisher
    publisher.close()
    for waiter in started:
        waiter.stop()


def test_every_runner_sees_every_event_and_only_the_waiter_on_that_id_wakes(waiters):
    (first, second), publisher = waiters
    woken: dict[str, bool] = {}
    threads = [threading.Thread(target=lambda: woken.update(a=first.wait("resp_a", 10))),
               threading.Thread(target=lambda: woken.update(b=second.wait("resp_b", 1.5)))]
    for thread in threads:
        thread.start()
    # No barrier needed: an event that arrives before its waiter registers is remembered (asserted
    # below), so either order gives these results.
    publisher.publish([_finished("resp_a")])
    for thread in threads:
        thread.join()
    assert woken == {"a": True, "b": False}
    # an event that came before anyone waited is remembered (the webhook may beat the wait)
    assert second.wait("resp_a", 0.01) is True


def test_after_a_lost_connection_every_waiter_wakes_to_read_its_response(waiters, rabbitmq_url):
    (first, _second), _publisher = waiters
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(first.wait("resp_lost", 30)))
    thread.start()
    started = time.monotonic()
    closed = 0

    def disconnect_until_woken() -> bool:
        # Only waiters registered when the connection comes back are woken; the thread may not have
        # registered before the first close, so close again (after the reconnect) until it wakes.
        nonlocal closed
        if not result:
            closed += close_connections(rabbitmq_url)
        return bool(result)

    wait_for(disconnect_until_woken, timeout=15, interval=0.3, message="the waiter woken by a reconnect")
    thread.join(timeout=20)
    assert closed > 0
    assert result == [True] and time.monotonic() - started < 15
    wait_for(lambda: first.connected, timeout=10, message="the waiter to reconnect")
