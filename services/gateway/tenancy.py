"""Who may see what, with API keys on (docs/security.md, Tenancy). Pure rules, no I/O.

A *scope* is None (API keys off, or an operator key: everything) or a key fingerprint. An *owner*
is the fingerprint stored on a request record, generation or recipe, or carried by a recipe event;
"" or absent: created with API keys off (or before ownership existed), which belongs to no key.
"""
from __future__ import annotations

from typing import Any, Mapping


def visible(scope: str | None, owner: str | None) -> bool:
    """Whether a caller with ``scope`` may see a thing owned by ``owner``."""
    return scope is None or (bool(owner) and owner == scope)


def owner_of(*docs: Mapping[str, Any] | None) -> str | None:
    """The first owner any of the documents names (request record before the store's copy)."""
    for doc in docs:
        if doc and doc.get("owner"):
            return str(doc["owner"])
    return None


def receives_all(subscription: Mapping[str, Any]) -> bool:
    """Whether a webhook subscription gets every owner's events (created with API keys off, owner "",
    or by an operator key, ``all_tenants``): then an event's owner need not be known for it."""
    return not subscription.get("owner") or bool(subscription.get("all_tenants"))


def receives(subscription: Mapping[str, Any], owner: str | None) -> bool:
    """Whether a webhook subscription gets an event of ``owner``: its owner's only, unless it receives
    every owner's (``receives_all``)."""
    return receives_all(subscription) or owner == subscription.get("owner")
