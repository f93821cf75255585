"""How fast the "model" writes function-call arguments: a schedule of argument deltas. No I/O.

``tokens_per_second`` 0 means instant (one delta per call, sent at once, as before pacing existed);
otherwise a token is ~4 characters of the JSON arguments and each delta carries one token.
"""
from __future__ import annotations

TOKEN_CHARS = 4

Schedule = list[list[tuple[float, str]]]  # per call: (seconds after the turn started when sent, delta text)


def schedule(arguments: list[str], tokens_per_second: int) -> Schedule:
    """The deltas of each call's arguments, in order, with the offset at which each is written."""
    if tokens_per_second <= 0:
        return [[(0.0, text)] for text in arguments]
    per_char = 1.0 / (TOKEN_CHARS * tokens_per_second)
    plan: Schedule = []
    written = 0
    for text in arguments:
        deltas = []
        for start in range(0, max(len(text), 1), TOKEN_CHARS):
            chunk = text[start:start + TOKEN_CHARS]
            deltas.append(((written + start + len(chunk)) * per_char, chunk))
        written += len(text)
        plan.append(deltas)
    return plan


def total_seconds(arguments: list[str], tokens_per_second: int) -> float:
    """How long writing all of a turn's calls takes (0 when instant)."""
    if tokens_per_second <= 0:
        return 0.0
    return sum(len(text) for text in arguments) / (TOKEN_CHARS * tokens_per_second)
