"""Every queue the runner consumes, with how (services/common/registration.py)."""
from __future__ import annotations

import functools

from services.common import topology
from services.common.mongo import transient
from services.common.outcomes import one_at_a_time
from services.common.registration import Registration
from services.runner import handlers
from services.runner.handlers import Deps


def consumers(deps: Deps, concurrency: int, stop_timeout: float) -> tuple[Registration, ...]:
    return (
        Registration(
            topology.RUNNER_GENERATIONS,
            one_at_a_time(functools.partial(handlers.handle_generation_requested, deps=deps)),
            decode=handlers.decode, prefetch=concurrency, workers=concurrency,
            # the runner's events must be routable whichever service starts first
            declare=(topology.STORE_EVENTS,),
            stop_timeout=stop_timeout,
            # MongoDB unreachable (runner_runs): the handler's ConnectionFailure is waited out with the
            # request held, not requeued, so an outage burns no delivery limit.
            transient=transient,
            # the last delivery the limit allows fails: generation.failed (retries_exhausted), not a silent dead letter
            give_up=functools.partial(handlers.give_up, deps=deps),
        ),
    )
