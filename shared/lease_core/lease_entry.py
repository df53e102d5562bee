"""One holder's entry in a semaphore's ``holders`` map: when it was acquired, when it expires, and for a
slot handed to a waiter, the grant: a random id of that one hand-over.

The grant names exactly one hand-over. It lets a slot handed to a waiter that
could not be told be taken back without touching a lease the same holder took
again by itself meanwhile (its own re-check writes an entry without a grant),
and it lets a hand-over whose answer was lost be recognised as one's own.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

GRANT_LENGTH = 16


def short_digest(text: str) -> str:
    """A short, stable, key-safe name for a long string (a holder in a sort key)."""
    return hashlib.sha256(text.encode()).hexdigest()[:GRANT_LENGTH]


def new_grant() -> str:
    """A fresh grant id, unique per hand-over attempt."""
    return secrets.token_hex(GRANT_LENGTH // 2)


def lease_value(acquired_at: int, expires_at: int, grant: str | None = None) -> dict[str, Any]:
    """The entry as DynamoDB attribute values."""
    entry: dict[str, Any] = {"a": {"N": str(acquired_at)}, "e": {"N": str(expires_at)}}
    if grant is not None:
        entry["g"] = {"S": grant}
    return {"M": entry}
