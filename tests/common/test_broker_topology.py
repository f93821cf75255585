"""The topology and the ack policy against the real RabbitMQ."""
import json
import threading

import pika

from services.common import topology
from services.common.consumer import Consumer, one_at_a_time
from services.common.rejection import Rejected
from services.common.events import encode, new_event
from services.common.publisher import Publisher, message_properties
from services.common.schemas import GENERATION_REQUESTED
from tests.support.broker import get_all, queue_depth
from tests.support.waiting import wait_for


def _channel(url):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    return connection, connection.channel()


def _request(n: int = 0):
    return new_event(GENERATION_REQUESTED, "test", {"generation_id": f"gen-{n}", "prompt": "soup"})


def test_declaring_the_topology_twice_is_a_no_op(rabbitmq_url):
    connection, channel = _channel(rabbitmq_url)
    queues = (topology.RUNNER_GENERATIONS, topology.STORE_EVENTS, topology.GATEWAY_WEBHOOKS)
    topology.declare(channel, queues, delivery_limit=3)
    topology.declare(channel, queues, delivery_limit=3)
    assert channel.is_open
    for spec in queues:
        assert channel.queue_declare(spec.dead_letter_queue, passive=True)
    connection.close()


def test_a_message_redelivered_past_the_limit_lands_in_the_dead_letter_queue_with_its_headers(rabbitmq_url):
    connection, channel = _channel(rabbitmq_url)
    spec = topology.RUNNER_GENERATIONS
    topology.declare(channel, [spec], delivery_limit=2)
    channel.confirm_delivery()
    event = _request()
    channel.basic_publish(topology.EXCHANGE, event.routing_key, encode(event),
                          properties=message_properties(event, {"x-test": "kept"}))
    deliveries = []

    def nack_next_delivery():
        method, _props, _body = channel.basic_get(spec.name)
        if method is not None:
            deliveries.append(method.delivery_tag)
            channel.basic_nack(method.delivery_tag, requeue=True)
        return queue_depth(rabbitmq_url, spec.dead_letter_queue)

    wait_for(nack_next_delivery, message="the message to be dead-lettered")
    assert len(deliveries) == 3  # x-delivery-limit N allows N+1 deliveries
    dead = get_all(rabbitmq_url, spec.dead_letter_queue)
    properties, body = dead[0]
    assert json.loads(body)["id"] == event.id
    assert properties.message_id == event.id
    assert properties.headers["x-test"] == "kept"
    assert properties.headers["x-first-death-reason"] == "delivery_limit"
    assert properties.headers["x-death"][0]["routing-keys"] == ["generation.requested"]
    connection.close()


def test_a_poison_message_is_dead_lettered_with_its_reason_and_the_next_one_is_handled(rabbitmq_url):
    spec = topology.RUNNER_GENERATIONS
    handled = []

    def handle(delivery):
        if b"poison" in delivery.body:
            raise Rejected("not a generation request")
        handled.append(delivery.message_id)

    consumer = Consumer(rabbitmq_url, spec, one_at_a_time(handle), delivery_limit=3)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    wait_for(lambda: consumer.consuming, message="consumer ready")
    connection, channel = _channel(rabbitmq_url)
    channel.basic_publish(topology.EXCHANGE, "generation.requested", b"poison",
                          properties=pika.BasicProperties(message_id="bad-1", delivery_mode=2))
    good = _request(1)
    channel.basic_publish(topology.EXCHANGE, good.routing_key, encode(good), properties=message_properties(good))
    connection.close()
    wait_for(lambda: handled == [good.id], message="the good message handled")
    dead = wait_for(lambda: get_all(rabbitmq_url, spec.dead_letter_queue), message="the poison dead-lettered")
    assert dead[0][1] == b"poison"
    assert dead[0][0].headers[topology.REJECTION_REASON_HEADER] == "not a generation request"
    consumer.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert queue_depth(rabbitmq_url, spec.name) == 0


def test_a_handler_error_is_retried_then_dead_lettered_not_looped_forever(rabbitmq_url):
    spec = topology.RUNNER_GENERATIONS
    attempts = []

    def handle(delivery):
        attempts.append(delivery.delivery_count)
        raise RuntimeError("always fails")

    consumer = Consumer(rabbitmq_url, spec, one_at_a_time(handle), delivery_limit=2)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    wait_for(lambda: consumer.consuming, message="consumer ready")
    publisher = Publisher(rabbitmq_url).start()
    publisher.publish([_request()], timeout=10)
    publisher.close()
    dead = wait_for(lambda: get_all(rabbitmq_url, spec.dead_letter_queue), message="dead letter")
    assert dead[0][0].headers["x-first-death-reason"] == "delivery_limit"
    assert attempts == [0, 1, 2]
    consumer.stop()
    thread.join(30)


def test_without_a_group_size_the_work_queues_are_declared_as_before():
    # The arguments a single node has always been sent: an existing deployment re-declares without a 406.
    assert topology.queue_arguments(topology.STORE_EVENTS, 20) == {
        "x-queue-type": "quorum", "x-delivery-limit": 20, "x-dead-letter-exchange": topology.DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": "store.events", "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish"}
    assert topology.quorum_arguments(None) == {"x-queue-type": "quorum"}


def test_a_group_size_places_each_quorum_queue_on_that_many_nodes_with_balanced_leaders():
    arguments = topology.queue_arguments(topology.STORE_EVENTS, 20, group_size=3)
    assert arguments["x-quorum-initial-group-size"] == 3
    assert arguments["x-queue-leader-locator"] == "balanced"
