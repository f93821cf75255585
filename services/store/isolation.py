"""One bad event never takes its batch down: split a failing batch until the failure is isolated.

``isolate_failures`` has no I/O of its own: ``apply`` does the writing. A part that fails for a
reason ``blames_the_batch`` recognises (a document MongoDB or the driver refuses) is split in two
halves, in order, and each half applied again, until the failing events stand alone; every other
event is applied. Any other error (MongoDB unreachable, a write-concern failure) is raised
unchanged: it is not one event's fault, and the whole batch is retried (writes are idempotent, so
the halves already applied are applied again harmlessly).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Generic, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Isolated(Generic[T, R]):
    results: list[R] = field(default_factory=list)  # what ``apply`` returned for the parts that succeeded
    failed: list[tuple[T, str]] = field(default_factory=list)  # each isolated item and why it failed


def isolate_failures(items: Sequence[T], apply: Callable[[Sequence[T]], R],
                     blames_the_batch: Callable[[BaseException], bool]) -> Isolated[T, R]:
    """Apply ``items`` at once; if that fails for an item's fault, bisect until the bad items are alone.

    One bad item in ``n`` costs about ``2 * log2(n)`` extra calls of ``apply``.
    """
    outcome: Isolated[T, R] = Isolated()
    _apply_part(list(items), apply, blames_the_batch, outcome)
    return outcome


def _apply_part(part: list[T], apply: Callable[[Sequence[T]], R], blames: Callable[[BaseException], bool],
                outcome: Isolated[T, R]) -> None:
    if not part:
        return
    try:
        outcome.results.append(apply(part))
        return
    except Exception as error:  # classified just below; anything else is re-raised
        if not blames(error):
            raise
        if len(part) == 1:
            outcome.failed.append((part[0], describe(error)))
            return
    middle = len(part) // 2
    _apply_part(part[:middle], apply, blames, outcome)
    _apply_part(part[middle:], apply, blames, outcome)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:1000]
