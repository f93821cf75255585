"""How many MongoDB round trips one store batch costs (issue 16): counted on the wire, so they cannot
creep back up. A batch is read (its generations, its recipes), written in one durable command (recipes,
generations, then the event log, in that order; a large batch: one command per collection, same order)
and read again (the generations' completion, and the recipes an announcement needs)."""
from __future__ import annotations

import functools
from typing import Iterator

import pytest
from pymongo import MongoClient, monitoring

from services.store.handlers import persist
from services.store.mongo import StoreDatabase
from services.store.projection import project
from tests.store.streams import seed_stream


class Commands(monitoring.CommandListener):
    """The commands sent while ``counting`` (name, collection or ``admin`` for bulkWrite)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.updated: list[tuple[str, str]] = []  # (collection, _id) of every single-document update sent
        self.counting = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.counting:
            target = event.command.get(event.command_name)
            self.sent.append((event.command_name, target if isinstance(target, str) else event.database_name))
            if event.command_name == "bulkWrite":
                names = [info["ns"].split(".", 1)[1] for info in event.command["nsInfo"]]
                self.updated += [(names[op["update"]], op["filter"]["_id"]) for op in event.command["ops"]
                                 if "update" in op and not op.get("multi")]
            elif event.command_name == "update":
                self.updated += [(target, op["q"]["_id"]) for op in event.command["updates"] if not op.get("multi")]

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def during(self, work) -> list[tuple[str, str]]:
        self.sent, self.updated, self.counting = [], [], True
        try:
            work()
        finally:
            self.counting = False
        return self.sent


@pytest.fixture
def counted(mongo_uri: str, mongo_db_name: str) -> Iterator[tuple[StoreDatabase, Commands]]:
    commands = Commands()
    client = MongoClient(mongo_uri, tz_aware=True, event_listeners=[commands])
    db = StoreDatabase(client[mongo_db_name])
    db.ensure_indexes()
    yield db, commands
    client.drop_database(mongo_db_name)
    client.close()


def test_one_tool_call_of_a_running_generation_costs_three_reads_and_one_write(counted):
    db, commands = counted
    requested, started, add_recipe, add_ingredient, *_rest = seed_stream()
    persist(db, [requested, started, add_recipe])
    sent = commands.during(lambda: persist(db, [add_ingredient]))
    assert sent == [("find", "generations"), ("find", "recipes"), ("bulkWrite", "admin"), ("find", "generations")]


def test_a_lifecycle_event_alone_costs_two_reads_and_one_write(counted):
    db, commands = counted
    requested, started, *_rest = seed_stream()
    persist(db, [requested])
    sent = commands.during(lambda: persist(db, [started]))
    assert sent == [("find", "generations"), ("bulkWrite", "admin"), ("find", "generations")]


def test_a_whole_generation_in_one_batch_costs_four_reads_and_one_write(counted):
    db, commands = counted
    sent = commands.during(lambda: persist(db, seed_stream()))
    # recipes are read before the write (which calls they hold) and after it (the completed counts)
    assert sent == [("find", "generations"), ("find", "recipes"), ("bulkWrite", "admin"), ("find", "generations"),
                    ("find", "recipes")]


def test_a_large_batch_writes_one_command_per_collection_in_the_same_order(counted):
    db, commands = counted
    streams = [seed_stream() for _ in range(10)]
    batch = [stream[i] for i in range(len(streams[0])) for stream in streams]  # 320 events, as under load
    sent = commands.during(lambda: persist(db, batch))
    assert sent == [("find", "generations"), ("find", "recipes"), ("update", "recipes"), ("update", "generations"),
                    ("insert", "generation_events"), ("find", "generations"), ("find", "recipes")]


def test_a_replayed_batch_costs_one_more_write_for_the_records_after_the_first_one_already_there(counted):
    db, commands = counted
    stream = seed_stream()
    persist(db, stream[:10])
    sent = commands.during(lambda: persist(db, stream))
    assert [s for s in sent if s[0] != "find"] == [("bulkWrite", "admin"), ("insert", "generation_events")]
    assert db.events.count_documents({"generation_id": stream[0].data["generation_id"]}) == len(stream)


def test_without_bulk_write_across_collections_each_collection_gets_one_write_in_the_same_order(counted):
    db, commands = counted
    db.one_command = False  # a server older than MongoDB 8.0
    stream = seed_stream()
    sent = commands.during(lambda: persist(db, stream))
    assert [s for s in sent if s[0] != "find"] == [("update", "recipes"), ("update", "generations"),
                                                   ("insert", "generation_events")]
    gid = stream[0].data["generation_id"]
    assert {"recipes": {d["_id"]: d for d in db.recipes.find({"generation_id": gid})},
            "generations": {d["_id"]: d for d in db.generations.find({"_id": gid})}} == project(stream)


@pytest.mark.parametrize("batch_size", [1, 4, 32, 320], ids=lambda n: f"batches of {n}")
def test_each_recipe_and_generation_is_written_at_most_once_per_batch(counted, batch_size):
    """SecantusDB rewrites a document and all its index entries per update: the batch's description,
    status step and recipe links go into the one upsert of their document."""
    db, commands = counted
    streams = [seed_stream() for _ in range(10)]
    events = [stream[i] for i in range(len(streams[0])) for stream in streams]
    for batch in (events[start:start + batch_size] for start in range(0, len(events), batch_size)):
        commands.during(functools.partial(persist, db, batch))
        assert len(commands.updated) == len(set(commands.updated)), commands.updated
    gids = [stream[0].data["generation_id"] for stream in streams]
    assert {"recipes": {d["_id"]: d for d in db.recipes.find({"generation_id": {"$in": gids}})},
            "generations": {d["_id"]: d for d in db.generations.find({"_id": {"$in": gids}})}} == project(events)
