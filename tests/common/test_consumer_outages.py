"""A handler that hits a transient error (MongoDB unreachable) is retried with the message held, against
the real RabbitMQ: no delivery limit is burnt, and a stop meanwhile is prompt and returns the message."""
import time

from pymongo.errors import AutoReconnect, OperationFailure

from services.common import topology
from services.common.consumer import Consumer, one_at_a_time
from services.common.mongo import transient
from tests.support.broker import queue_depth
from tests.support.consumers import request_event, start_consumer
from tests.support.waiting import wait_for

QUEUE = topology.RUNNER_GENERATIONS



def test_a_transient_error_is_retried_with_the_message_held_until_it_succeeds(rabbitmq_url, publisher):
    calls = []

    def handler(delivery):
        calls.append((delivery.delivery_count, delivery.redelivered))
        if len(calls) < 6:
            raise AutoReconnect("connection refused")

    consumer = Consumer(rabbitmq_url, QUEUE, one_at_a_time(handler), delivery_limit=1,
                        transient=transient, max_backoff=0.05)
    thread = start_consumer(consumer)
    publisher.publish([request_event(1)], timeout=10)
    wait_for(lambda: len(calls) == 6, timeout=30, message="six attempts")
    consumer.stop()
    thread.join(30)
    assert calls == [(0, False)] * 6  # one delivery, never returned to the queue
    assert queue_depth(rabbitmq_url, QUEUE.name) == 0  # acked once it succeeded
    assert queue_depth(rabbitmq_url, QUEUE.dead_letter_queue) == 0  # five failures, limit 1: nothing burnt


def test_an_error_that_is_not_transient_is_still_requeued(rabbitmq_url, publisher):
    counts = []

    def handler(delivery):
        counts.append(delivery.delivery_count)
        if len(counts) == 1:
            raise OperationFailure("a bug, not an outage")

    consumer = Consumer(rabbitmq_url, QUEUE, one_at_a_time(handler), transient=transient, max_backoff=0.05)
    thread = start_consumer(consumer)
    publisher.publish([request_event(1)], timeout=10)
    wait_for(lambda: len(counts) == 2, timeout=30, message="the redelivery")
    consumer.stop()
    thread.join(30)
    assert counts[1] == counts[0] + 1  # went back to the broker and came again


def test_a_stop_during_the_retries_is_prompt_and_returns_the_message_unacked(rabbitmq_url, publisher):
    attempts = []

    def handler(delivery):
        attempts.append(time.monotonic())
        raise AutoReconnect("connection refused")

    # The waits double from 0.2 s: without the stop ending the wait, the stop would wait out the next one.
    consumer = Consumer(rabbitmq_url, QUEUE, one_at_a_time(handler), transient=transient, max_backoff=60.0)
    thread = start_consumer(consumer)
    publisher.publish([request_event(1)], timeout=10)
    wait_for(lambda: len(attempts) >= 6, timeout=60, message="six attempts: the next wait is over 6 s")
    stopped_at = time.monotonic()
    consumer.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert time.monotonic() - stopped_at < 3.0  # generous (the machine is shared), and well under that wait
    tried = len(attempts)
    wait_for(lambda: queue_depth(rabbitmq_url, QUEUE.name) == 1, timeout=10, message="the message back in the queue")
    assert len(attempts) == tried  # no attempt after the stop
    assert queue_depth(rabbitmq_url, QUEUE.dead_letter_queue) == 0
