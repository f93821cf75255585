"""Publisher confirms, mandatory routing and reconnection against the real RabbitMQ."""
import threading

import pika
import pytest

from services.common import topology
from services.common.events import decode, new_event
from services.common.publisher import BrokerUnavailable, Nacked, Unroutable
from services.common.schemas import GENERATION_REQUESTED, TOOLCALL_ADD_STEP
from tests.support.broker import broker_stopped, close_connections, get_all


def _declare(url, *specs):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    topology.declare(connection.channel(), specs, delivery_limit=5)
    connection.close()


def _requests(count: int, prefix: str = "gen"):
    return [new_event(GENERATION_REQUESTED, "test", {"generation_id": f"{prefix}-{i}", "prompt": "soup"},
                      event_id=f"{prefix}-{i}") for i in range(count)]


def test_a_confirmed_event_is_in_the_queue(rabbitmq_url, publisher):
    _declare(rabbitmq_url, topology.RUNNER_GENERATIONS)
    publisher.publish(_requests(1), timeout=10)
    [(properties, body)] = get_all(rabbitmq_url, topology.RUNNER_GENERATIONS.name)
    assert properties.delivery_mode == 2
    assert properties.content_type == "application/cloudevents+json"
    assert decode(body).id == properties.message_id == "gen-0"


def test_an_event_no_queue_is_bound_for_raises_instead_of_vanishing(rabbitmq_url, publisher):
    _declare(rabbitmq_url, topology.RUNNER_GENERATIONS)  # binds generation.requested only
    step = new_event(TOOLCALL_ADD_STEP, "test", {
        "generation_id": "g", "tool_call_id": "c",
        "arguments": {"id": "soup", "step_number": 1, "instructions": "Boil."}})
    with pytest.raises(Unroutable, match="toolcall.add_step"):
        publisher.publish([step], timeout=10)
    publisher.publish(_requests(1), timeout=10)  # the publisher is still usable


def test_with_the_broker_stopped_publish_fails_within_its_deadline(rabbitmq_url, publisher):
    _declare(rabbitmq_url, topology.RUNNER_GENERATIONS)
    with broker_stopped():
        with pytest.raises(BrokerUnavailable):
            publisher.publish(_requests(1, "while-down"), timeout=2)
    publisher.publish(_requests(1, "after"), timeout=30)
    ids = [properties.message_id for properties, _ in get_all(rabbitmq_url, topology.RUNNER_GENERATIONS.name)]
    assert ids == ["after-0"]  # the refused event never appears later


def test_a_thousand_confirmed_publishes_survive_a_forced_disconnect(rabbitmq_url, publisher):
    _declare(rabbitmq_url, topology.RUNNER_GENERATIONS)
    events = _requests(1000)
    closed = []
    disconnect = threading.Thread(target=lambda: closed.append(close_connections(rabbitmq_url)), daemon=True)
    for start in range(0, 1000, 50):
        if start == 500:
            disconnect.start()  # while the next batches are in flight
        if start == 800:
            disconnect.join(60)  # the disconnect happened before the last batches
            assert closed and closed[0] >= 1
        publisher.publish(events[start:start + 50], timeout=60)
    ids = [properties.message_id for properties, _ in get_all(rabbitmq_url, topology.RUNNER_GENERATIONS.name)]
    assert set(ids) == {event.id for event in events}  # none lost; duplicates allowed, ids stable


def _full_queue(url, routing_key, length=1):
    """An outside queue that holds ``length`` messages and refuses more: the broker nacks what it cannot take."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.exchange_declare(topology.EXCHANGE, exchange_type="topic", durable=True)
    channel.queue_declare("full", durable=True, arguments={"x-max-length": length, "x-overflow": "reject-publish"})
    channel.queue_bind("full", topology.EXCHANGE, routing_key=routing_key)
    connection.close()


def test_publishes_handed_over_without_waiting_arrive_in_order_and_are_confirmed_at_wait(rabbitmq_url, publisher):
    _declare(rabbitmq_url, topology.RUNNER_GENERATIONS)
    events = _requests(50, "async")
    pending = [publisher.publish_async([event], timeout=10) for event in events]  # none waits for a confirm
    for each in pending:
        each.wait()
    assert [each.confirmed_at is not None for each in pending] == [True] * 50
    ids = [properties.message_id for properties, _ in get_all(rabbitmq_url, topology.RUNNER_GENERATIONS.name)]
    assert ids == [event.id for event in events]


def test_a_nack_of_a_publish_handed_over_is_raised_by_its_wait_and_only_there(rabbitmq_url, publisher):
    _declare(rabbitmq_url, topology.RUNNER_GENERATIONS)
    _full_queue(rabbitmq_url, GENERATION_REQUESTED)
    first, refused = (publisher.publish_async([event], timeout=10) for event in _requests(2, "full"))
    first.wait()
    with pytest.raises(Nacked):
        refused.wait()
    with pytest.raises(Nacked):
        refused.wait()  # the same outcome again, without waiting
    assert first.confirmed_at is not None and refused.confirmed_at is None
    get_all(rabbitmq_url, "full")  # room again: the same publisher carries on
    publisher.publish(_requests(1, "after"), timeout=10)
    assert [p.message_id for p, _ in get_all(rabbitmq_url, "full")] == ["after-0"]
