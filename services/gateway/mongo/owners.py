"""Ownership clauses of the gateway's filters: a principal is a key fingerprint string ("" when keys are off)."""
from __future__ import annotations


def fingerprint(owner: str) -> str:
    if not isinstance(owner, str):  # a principal is a fingerprint string; never a document with operators
        raise TypeError(f"owner must be a str, not {type(owner).__name__}")
    return owner


def owned_by(owner: str) -> dict[str, str]:
    """The ownership clause of a filter: none when keys are off, else an exact string match."""
    return {"owner": owner} if fingerprint(owner) else {}
