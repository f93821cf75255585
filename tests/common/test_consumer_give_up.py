"""The delivery limit is counted once, in the consumer: on the last delivery it allows, the service's
``give_up`` decides (end the work visibly and ack, or dead-letter with a reason) instead of the
broker dead-lettering the message silently."""
import threading

from services.common import topology
from services.common.consumer import ACK, Consumer, DeadLetter, one_at_a_time
from tests.support.broker import get_all, queue_depth
from tests.support.consumers import request_event, start_consumer
from tests.support.waiting import wait_for

QUEUE = topology.RUNNER_GENERATIONS


def _always_failing(attempts: list[int]):
    def handle(delivery):
        attempts.append(delivery.delivery_count)
        raise RuntimeError("always fails")
    return one_at_a_time(handle)


def test_give_up_is_asked_once_on_the_last_allowed_delivery_and_its_ack_acks(rabbitmq_url, publisher):
    attempts: list[int] = []
    given_up: list[tuple[int, str]] = []
    done = threading.Event()

    def give_up(delivery, error):
        given_up.append((delivery.delivery_count, str(error)))
        done.set()
        return ACK

    consumer = Consumer(rabbitmq_url, QUEUE, _always_failing(attempts), delivery_limit=2, give_up=give_up)
    thread = start_consumer(consumer)
    publisher.publish([request_event(1)], timeout=10)
    assert done.wait(60)
    wait_for(lambda: queue_depth(rabbitmq_url, QUEUE.name) == 0, message="the request acked")
    consumer.stop()
    thread.join(30)
    assert attempts == [0, 1, 2] and given_up == [(2, "always fails")]
    assert get_all(rabbitmq_url, QUEUE.dead_letter_queue) == []  # ended visibly, not dead-lettered


def test_a_reason_from_give_up_dead_letters_the_message_with_it(rabbitmq_url, publisher):
    attempts: list[int] = []
    consumer = Consumer(rabbitmq_url, QUEUE, _always_failing(attempts), delivery_limit=1,
                        give_up=lambda delivery, error: DeadLetter(f"gave up: {error}"))
    thread = start_consumer(consumer)
    publisher.publish([request_event(1)], timeout=10)
    dead = wait_for(lambda: get_all(rabbitmq_url, QUEUE.dead_letter_queue), message="the dead letter")
    consumer.stop()
    thread.join(30)
    assert dead[0][0].headers[topology.REJECTION_REASON_HEADER] == "gave up: always fails"
    assert attempts == [0, 1]
