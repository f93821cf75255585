"""``runner_runs``: what the runner must remember to resume a generation after a crash.

One document per generation: ``{_id: generation_id, thread_id, message_added,
run_id, assistant_id, status, turn_started_at, batches: [{key, accepted, rejected}], ...}``.
``turn_started_at`` is when the runner handed the model its current turn (run created, tool
outputs submitted, response created): the RUNNER_RUN_TIMEOUT_SECONDS clock survives a restart.
Every write is durable (w=majority, j=True) and made *before* the step that
depends on it, so a redelivered request finds the same thread and run.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.common.mongo import DURABLE

COLLECTION = "runner_runs"
ASSISTANTS = "runner_assistants"


class RunStore:
    def __init__(self, db: Database) -> None:
        self._runs = db.get_collection(COLLECTION, write_concern=DURABLE)

    def get(self, generation_id: str) -> dict[str, Any]:
        return self._runs.find_one({"_id": generation_id}) or {}

    def record(self, generation_id: str, *, batch: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """Set ``fields``, and count ``batch`` (``{key, accepted, rejected}``, one tool-call batch) in the
        same write; idempotent, so a replayed batch is counted once."""
        now = datetime.now(timezone.utc)
        update: dict[str, Any] = {"$set": {**fields, "updated_at": now}, "$setOnInsert": {"created_at": now}}
        if batch is not None:
            update["$addToSet"] = {"batches": dict(batch)}
        self._runs.update_one({"_id": generation_id}, update, upsert=True)

    @staticmethod
    def counts(record: Mapping[str, Any]) -> tuple[int, int]:
        batches = record.get("batches") or []
        return sum(b["accepted"] for b in batches), sum(b["rejected"] for b in batches)


class AssistantRegistry:
    """``runner_assistants``: the assistant every runner process uses, ``{_id: name, assistant_id}``.

    Two runner processes starting on an empty account may each create an assistant. The first to
    insert the name's document wins (``_id`` is unique, so exactly one insert succeeds); every other
    process adopts the winner's id, and a process whose own assistant lost deletes it.
    """

    def __init__(self, db: Database) -> None:
        self._assistants = db.get_collection(ASSISTANTS, write_concern=DURABLE)

    def get(self, name: str) -> str | None:
        document = self._assistants.find_one({"_id": name})
        return document["assistant_id"] if document else None

    def claim(self, name: str, assistant_id: str) -> str:
        """Propose ``assistant_id`` for ``name``; returns the id every process agrees on."""
        while True:
            try:
                self._assistants.insert_one({"_id": name, "assistant_id": assistant_id,
                                             "created_at": datetime.now(timezone.utc)})
                return assistant_id
            except DuplicateKeyError:
                agreed = self.get(name)
                if agreed is not None:  # else: forgotten in between; propose again
                    return agreed

    def forget(self, name: str, assistant_id: str) -> None:
        """Drop the agreement if it still names ``assistant_id`` (e.g. that assistant was deleted at the API)."""
        self._assistants.delete_one({"_id": name, "assistant_id": assistant_id})
