"""The one connection layer (services/common/connection.py): a live node, backoff, a stop that is prompt."""
import threading
import time

import pika.exceptions

from services.common.connection import Backoff, Nodes, reconnecting
from tests.support.waiting import wait_for


def _with_a_dead_node(url: str) -> str:
    # Same vhost and credentials on a port nothing listens on: one dead node of the "cluster".
    dead = url.replace("127.0.0.1:5672", "127.0.0.1:1")
    assert dead != url
    return f"{dead},{url}"


def test_a_blocking_connect_takes_the_live_node_whatever_the_order(rabbitmq_url):
    nodes = Nodes(_with_a_dead_node(rabbitmq_url))
    for _ in range(4):  # each connect tries the nodes in a fresh order: the dead one is first about half the time
        connection = nodes.connect()
        assert connection.is_open
        connection.close()


def test_an_asynchronous_client_is_given_every_node_in_turn():
    nodes = Nodes("amqp://u:p@127.0.0.1:5701/v,amqp://u:p@127.0.0.1:5702/v")
    assert {nodes.next().port for _ in range(2)} == {5701, 5702}


def test_the_backoff_grows_to_its_cap_and_starts_over_once_connected():
    backoff = Backoff(max_wait=1.5)
    waits = [backoff.next() for _ in range(8)]
    assert waits[0] <= 0.2 + 1.0 and max(waits) <= 1.5 and waits[-1] == 1.5
    backoff.reset()
    assert backoff.next() <= 1.2


def test_reconnecting_runs_the_session_again_after_a_lost_connection_and_a_stop_ends_the_wait_at_once():
    stopping, sessions = threading.Event(), []

    def session():
        sessions.append(time.monotonic())
        raise pika.exceptions.AMQPConnectionError("gone")

    thread = threading.Thread(target=reconnecting, args=(session, stopping), kwargs={"what": "test", "max_wait": 60},
                              daemon=True)
    thread.start()
    wait_for(lambda: len(sessions) >= 4, timeout=30, message="four sessions")  # 0.2, 0.4, 0.8 s (+ jitter) apart
    stopped_at = time.monotonic()
    stopping.set()  # the next wait is 1.6 s or more
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - stopped_at < 1.0
