"""A generation's SSE stream is fed by the store's events.recorded, not by polling MongoDB: through the
real services, the gateway's MongoDB commands while the stream is open are one read per announcement
(plus the stream's opening and closing reads), and every recorded event reaches the client."""
from __future__ import annotations

import json
import re

import pytest

from services.cli.client import GatewayClient
from services.common.schemas import EVENTS_RECORDED
from tests.support.broker import bind_outside_queue, get_all
from tests.support.system import System

ANNOUNCEMENTS = "test.events-recorded"
# Opening: the generation (is it visible), its request record when the store has not seen it yet, the
# history; closing: the terminal event's re-read (sse.py). A poll every 0.25 s over the generation's
# seconds, as before, would be tens more.
OPENING_AND_CLOSING_READS = 4


@pytest.fixture
def paced_system(service_env, start_service) -> System:
    """The model writes its arguments at 200 tokens/s: the seed's calls land one by one over seconds.
    The streams' safety read is set past the test, so every read counted is caused by the broker."""
    env = {**service_env, "MODEL_BACKEND": "responses", "GATEWAY_SSE_SAFETY_READ_SECONDS": "600"}
    return System(env=env, start_service=start_service,
                  emulator_args=("--tokens-per-second", "200")).start_all()


def _mongodb_commands(client: GatewayClient) -> float:
    """The gateway's MongoDB commands so far, every worker summed (gateway_mongodb_commands_total)."""
    text = client.session.get(f"{client.base_url}/metrics", timeout=10).text
    return sum(float(value) for value in re.findall(r"^gateway_mongodb_commands_total\{[^}]*\} (\S+)$", text, re.M))


def test_each_recorded_event_reaches_the_stream_with_one_read_per_announcement_and_no_poll(
        paced_system, rabbitmq_url, mongo_db):
    from services.cli.__main__ import SEED_INSTRUCTIONS, SEED_PROMPT

    bind_outside_queue(rabbitmq_url, ANNOUNCEMENTS, EVENTS_RECORDED)
    client = GatewayClient(paced_system.gateway_url)
    generation_id = client.submit(SEED_PROMPT, SEED_INSTRUCTIONS)["id"]
    before = _mongodb_commands(client)
    streamed = [event["id"] for event in client.events(generation_id)]
    commands = _mongodb_commands(client) - before

    recorded = [doc["_id"] for doc in mongo_db.generation_events.find({"generation_id": generation_id})]
    assert sorted(streamed) == sorted(recorded) and len(recorded) > 20  # the seed: 29 calls and 3 statuses
    announced = [json.loads(body) for _props, body in get_all(rabbitmq_url, ANNOUNCEMENTS)]
    mine = [a for a in announced if a["data"]["generation_id"] == generation_id]
    assert sum(a["data"]["events"] for a in mine) >= len(recorded)  # every event was announced
    assert commands <= len(mine) + OPENING_AND_CLOSING_READS, (commands, len(mine))
