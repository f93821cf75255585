"""Natural batching: a batch is what arrived while the workers were busy; an idle consumer hands a lone
message over at once instead of lingering for a fuller batch."""
import threading

from services.common import topology
from services.common.consumer import ACK, Consumer
from tests.support.broker import queue_depth
from tests.support.consumers import request_event, start_consumer
from tests.support.waiting import wait_for


def _batching(rabbitmq_url: str, release: threading.Event) -> tuple[Consumer, list[list[str]]]:
    batches: list[list[str]] = []

    def handle(deliveries):
        batches.append([d.message_id for d in deliveries])
        release.wait(30)  # the worker stays busy until the test lets it go
        return [ACK] * len(deliveries)

    return Consumer(rabbitmq_url, topology.RUNNER_GENERATIONS, handle, workers=1, batch_size=50,
                    prefetch=100), batches


def test_an_idle_consumer_hands_over_a_lone_message_as_its_own_batch(rabbitmq_url, publisher):
    release = threading.Event()
    release.set()
    consumer, batches = _batching(rabbitmq_url, release)
    thread = start_consumer(consumer)
    publisher.publish([request_event(1)], timeout=10)
    wait_for(lambda: batches, message="the lone message handled")
    assert batches == [["id-1"]]
    consumer.stop()
    thread.join(30)


def test_messages_that_arrive_while_the_worker_is_busy_form_the_next_batch(rabbitmq_url, publisher):
    release = threading.Event()
    consumer, batches = _batching(rabbitmq_url, release)
    thread = start_consumer(consumer)
    publisher.publish([request_event(0)], timeout=10)
    wait_for(lambda: batches, message="the first batch started")
    publisher.publish([request_event(n) for n in range(1, 11)], timeout=10)  # while the worker is busy
    wait_for(lambda: queue_depth(rabbitmq_url, topology.RUNNER_GENERATIONS.name) == 0,
             message="all ten delivered to the consumer (prefetched)")
    release.set()
    wait_for(lambda: sum(map(len, batches)) == 11, message="every message handled")
    assert batches[0] == ["id-0"] and batches[1] == [f"id-{n}" for n in range(1, 11)]
    consumer.stop()
    thread.join(30)
