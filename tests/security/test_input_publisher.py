"""No str that reaches the publisher can kill it: a hostile batch fails its caller only (issue 14)."""
import pika
import pytest

from services.common import topology
from services.common.events import CloudEvent, decode, new_event
from services.common.publisher import Publisher, Unencodable
from services.common.schemas import GENERATION_REQUESTED
from tests.support.broker import get_all
from tests.support.waiting import wait_for


def _declare(url):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    topology.declare(connection.channel(), [topology.RUNNER_GENERATIONS], delivery_limit=5)
    connection.close()


def _request(generation_id: str) -> CloudEvent:
    return new_event(GENERATION_REQUESTED, "test", {"generation_id": generation_id, "prompt": "soup"},
                     event_id=generation_id)


def _hostile(**fields: str) -> CloudEvent:
    # Built past new_event (which refuses it), as a bug or a forgotten check would.
    event = {"id": "bad", "type": GENERATION_REQUESTED, "source": "test",
             "data": {"generation_id": "bad", "prompt": "soup"}, **fields}
    if "prompt" in fields:
        event["data"] = {"generation_id": "bad", "prompt": fields["prompt"]}
        del event["prompt"]
    return CloudEvent(**event)


@pytest.mark.parametrize("fields", [{"prompt": "x\ud800"}, {"id": "bad\udc00"}, {"source": "\ud800"},
                                    {"traceparent": "\ud800"}])
def test_a_lone_surrogate_fails_its_caller_and_the_next_publish_succeeds(rabbitmq_url, publisher, fields):
    _declare(rabbitmq_url)
    with pytest.raises(Unencodable):
        publisher.publish([_request("first"), _hostile(**fields)], timeout=10)
    publisher.publish([_request("after")], timeout=10)
    bodies = [decode(body).id for _properties, body in get_all(rabbitmq_url, topology.RUNNER_GENERATIONS.name)]
    assert bodies == ["after"]  # nothing of the hostile batch was sent


def test_an_error_inside_the_io_loop_restarts_it_not_ready_meanwhile(rabbitmq_url):
    _declare(rabbitmq_url)
    publisher = Publisher(rabbitmq_url, reconnect_delay=1.0).start()
    try:
        assert publisher.wait_connected(10)

        def boom() -> None:
            raise RuntimeError("a bug in a callback")

        publisher._ioloop.add_callback_threadsafe(boom)  # the failure is injected on its thread
        wait_for(lambda: not publisher.connected, timeout=5, interval=0.01, message="readiness false")
        publisher.publish([_request("after-restart")], timeout=15)
        assert publisher.connected
        [(properties, _body)] = get_all(rabbitmq_url, topology.RUNNER_GENERATIONS.name)
        assert properties.message_id == "after-restart"
    finally:
        publisher.close()
