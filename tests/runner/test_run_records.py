"""What one generation costs ``runner_runs`` (in-process: real SDK, emulator, RabbitMQ, SecantusDB).

Every write is durable (j=True), so each one the crash rules do not need is a round trip saved per turn.
"""
from collections import Counter

import pytest
from pika.spec import BasicProperties
from pymongo import MongoClient, monitoring

from services.common import schemas
from services.common.delivery import Delivery, Received
from services.common.events import encode, new_event
from services.common.publisher import Publisher
from services.runner.backends.responses import ResponsesModel
from services.runner.backends.sdk import make_client
from services.runner.handlers import Deps, handle_generation_requested
from services.runner.mongo import COLLECTION, RunStore
from tests.runner.helpers import SEED_PROMPT


class Commands(monitoring.CommandListener):
    """The commands sent to ``runner_runs``, by name."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command.get(event.command_name) == COLLECTION:
            self.sent[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _request(gid: str) -> Received:
    event = new_event(schemas.GENERATION_REQUESTED, "test", {"generation_id": gid, "prompt": SEED_PROMPT},
                      subject=gid, event_id=gid)
    return Received(event, Delivery(body=encode(event), properties=BasicProperties(message_id=gid),
                                    routing_key=schemas.GENERATION_REQUESTED, redelivered=False))


@pytest.fixture
def counted(mongo_uri, mongo_db_name):
    commands = Commands()
    client = MongoClient(mongo_uri, event_listeners=[commands])
    yield commands, RunStore(client[mongo_db_name])
    client.drop_database(mongo_db_name)
    client.close()


def test_a_responses_generation_reads_its_record_once_and_writes_once_per_turn_and_at_the_end(
        start_emulator, counted, pipeline):
    commands, runs = counted
    model = ResponsesModel(make_client(None, start_emulator().base_url), "gpt-test")
    publisher = Publisher(pipeline.url, name="records-test").start()
    try:
        deps = Deps(model=model, runs=runs, publish=lambda events: publisher.publish(list(events), timeout=10),
                    publish_async=lambda events: publisher.publish_async(list(events), timeout=10))
        handle_generation_requested(_request("gen-records"), deps)
    finally:
        publisher.close()
        model.close()
    completed = pipeline.wait_terminal("gen-records")
    assert completed.type == schemas.GENERATION_COMPLETED and completed.data["tool_calls"] == 29
    # the seed's four turns: each turn's id written at its creation, the batch before it in the same
    # write; then the end. No read but the one at the delivery's start.
    assert dict(commands.sent) == {"find": 1, "update": 4 + 1}
    record = runs.get("gen-records")
    assert [(b["accepted"], b["rejected"]) for b in record["batches"]] == [(1, 0), (19, 0), (9, 0)]
    assert record["status"] == "completed"
