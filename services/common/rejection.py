"""The one "rejected, with a reason" error: input that can never be handled, whatever the retries.

Where it is raised, ``reason`` says what was wrong; where it is caught, it becomes the refusal its
input gets: a dead letter with ``x-rejection-reason`` (consumers), a 400 problem (the gateway), a
tool output telling the model (the runner). ``services.common.events.InvalidEvent`` is the case of a
message that is not a valid event of the contract.
"""
from __future__ import annotations


class Rejected(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
