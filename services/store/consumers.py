"""Every queue the store consumes, with how (services/common/registration.py)."""
from __future__ import annotations

from services.common import topology
from services.common.mongo import transient
from services.common.registration import Registration
from services.store.handlers import StoreHandler, decode


def consumers(handler: StoreHandler, batch_size: int) -> tuple[Registration, ...]:
    return (
        Registration(
            topology.STORE_EVENTS, handler, decode=decode, batch_size=batch_size,
            # One batch at a time, in queue order: the runner publishes generation.completed after its
            # tool calls, so a reader that sees "completed" sees the whole recipe -- within one store.
            # With several stores, a store that loses its broker node has its unacked calls redelivered,
            # possibly after another store applied the completion: they are applied late and the recipe
            # is announced again with its new counts (docs/data-model.md). (Two workers were
            # ~1.5x faster here but let a later batch overtake an earlier one.) The next batch is what
            # arrives while this one writes (natural batching: no linger when idle).
            workers=1, prefetch=2 * batch_size,
            transient=transient,  # MongoDB unreachable: the batch is held and retried, not requeued
        ),
    )
