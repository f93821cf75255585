"""The consumer's acknowledgement, reconnection and stop behaviour against the real RabbitMQ."""
import threading

from services.common import topology
from services.common.consumer import Consumer, one_at_a_time
from tests.support.broker import close_connections, queue_depth
from tests.support.consumers import request_event, start_consumer
from tests.support.waiting import wait_for



def test_the_consumer_reconnects_after_the_broker_drops_it(rabbitmq_url, publisher):
    handled = []
    consumer = Consumer(rabbitmq_url, topology.RUNNER_GENERATIONS,
                        one_at_a_time(lambda d: handled.append(d.message_id)))
    thread = start_consumer(consumer)
    publisher.publish([request_event(1)], timeout=10)
    wait_for(lambda: "id-1" in handled, message="first message")
    close_connections(rabbitmq_url)
    wait_for(lambda: consumer.consuming, message="consumer reconnected", timeout=30)
    publisher.publish([request_event(2)], timeout=30)
    wait_for(lambda: "id-2" in handled, message="message after reconnect")
    consumer.stop()
    thread.join(30)
    assert queue_depth(rabbitmq_url, topology.RUNNER_GENERATIONS.name) == 0


def test_a_message_redelivered_while_still_running_here_is_not_handled_twice(rabbitmq_url, publisher):
    started, release = [], threading.Event()

    def slow(delivery):
        started.append(delivery.message_id)
        release.wait(30)

    consumer = Consumer(rabbitmq_url, topology.RUNNER_GENERATIONS, one_at_a_time(slow), workers=4)
    thread = start_consumer(consumer)
    publisher.publish([request_event(1)], timeout=10)
    wait_for(lambda: started, message="job started")
    close_connections(rabbitmq_url)  # the unacked message goes back to the queue and comes again
    wait_for(lambda: consumer.consuming, message="consumer reconnected", timeout=30)
    wait_for(lambda: queue_depth(rabbitmq_url, topology.RUNNER_GENERATIONS.name) == 0, message="redelivery taken")
    release.set()
    consumer.stop()
    thread.join(30)
    assert started == ["id-1"]
    assert queue_depth(rabbitmq_url, topology.RUNNER_GENERATIONS.name) == 0  # and the redelivered copy was acked


def test_stop_lets_running_work_finish_and_ack(rabbitmq_url, publisher):
    started, finished = threading.Event(), []

    def slow(delivery):
        started.set()
        threading.Event().wait(1.0)
        finished.append(delivery.message_id)

    consumer = Consumer(rabbitmq_url, topology.RUNNER_GENERATIONS, one_at_a_time(slow))
    thread = start_consumer(consumer)
    publisher.publish([request_event(1)], timeout=10)
    assert started.wait(10)
    consumer.stop()
    thread.join(30)
    assert finished == ["id-1"]
    assert queue_depth(rabbitmq_url, topology.RUNNER_GENERATIONS.name) == 0
