"""Named outcomes against the real RabbitMQ: what a decoder refuses never reaches the handler, and
``RetryLater`` is a requeue the delivery limit counts, ended by ``give_up`` on the last delivery."""
from services.common import topology
from services.common.consumer import ACK, Consumer, DeadLetter, RetryLater, one_at_a_time, received
from tests.support.broker import get_all, publish_raw, queue_depth
from tests.support.consumers import request_event, start_consumer
from tests.support.waiting import wait_for

QUEUE = topology.RUNNER_GENERATIONS


def test_a_body_the_decoder_refuses_is_dead_lettered_with_its_reason_and_the_handler_gets_events(
        rabbitmq_url, publisher):
    handled = []
    consumer = Consumer(rabbitmq_url, QUEUE, one_at_a_time(lambda message: handled.append(message.event.id)),
                        decode=received)
    thread = start_consumer(consumer)
    publish_raw(rabbitmq_url, "generation.requested", b"\xff not json")
    publisher.publish([request_event(1)], timeout=10)
    wait_for(lambda: handled == ["id-1"], message="the event handled")
    dead = wait_for(lambda: get_all(rabbitmq_url, QUEUE.dead_letter_queue), message="the refused body")
    consumer.stop()
    thread.join(30)
    assert dead[0][1] == b"\xff not json"
    assert "not JSON" in dead[0][0].headers[topology.REJECTION_REASON_HEADER]
    assert queue_depth(rabbitmq_url, QUEUE.name) == 0


def test_retry_later_requeues_counting_deliveries_and_give_up_decides_on_the_last(rabbitmq_url, publisher):
    counts: list[int] = []
    given_up: list[str] = []

    def later(message):
        counts.append(message.delivery_count)
        return RetryLater("the recipe book is busy")

    def give_up(message, error):
        given_up.append(str(error))
        return DeadLetter(f"gave up: {error}")

    consumer = Consumer(rabbitmq_url, QUEUE, one_at_a_time(later), delivery_limit=2, give_up=give_up)
    thread = start_consumer(consumer)
    publisher.publish([request_event(1)], timeout=10)
    dead = wait_for(lambda: get_all(rabbitmq_url, QUEUE.dead_letter_queue), message="the dead letter")
    consumer.stop()
    thread.join(30)
    assert counts == [0, 1, 2] and given_up == ["the recipe book is busy"]
    assert dead[0][0].headers[topology.REJECTION_REASON_HEADER] == "gave up: the recipe book is busy"


def test_a_handler_that_returns_no_outcome_has_its_batch_redelivered(rabbitmq_url, publisher):
    calls: list[int] = []

    def handle(messages):
        calls.append(messages[0].delivery_count)
        return [None] if len(calls) == 1 else [ACK]

    consumer = Consumer(rabbitmq_url, QUEUE, handle)
    thread = start_consumer(consumer)
    publisher.publish([request_event(1)], timeout=10)
    wait_for(lambda: len(calls) == 2, message="the redelivery")
    wait_for(lambda: queue_depth(rabbitmq_url, QUEUE.name) == 0, message="acked the second time")
    consumer.stop()
    thread.join(30)
    assert calls == [0, 1]
