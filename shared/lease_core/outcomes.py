"""What the lease operations answer, and what a read of a prefix's leases shows: plain values, no I/O.

Kept apart from the protocol so that both item layouts (``semaphore`` and ``wide_layout``) answer in
the same terms without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lease_core.item_layout import Entry, holder_key
from lease_core.queue_items import Waiter


@dataclass(frozen=True)
class Acquired:
    holder: str
    prefix: str
    expires_at: int

    def as_event(self) -> dict[str, Any]:
        return {"status": "acquired", "holder": self.holder, "prefix": self.prefix, "expires_at": self.expires_at}


@dataclass(frozen=True)
class MustWait:
    active: int
    cap: int
    waited: int | None = None  # poll mode: whole seconds the execution has waited (lease_core.wait_time)

    def as_event(self) -> dict[str, Any]:
        answer = {"status": "wait", "active": self.active, "cap": self.cap}
        return answer if self.waited is None else {**answer, "waited": self.waited}


@dataclass(frozen=True)
class Admission:
    """A waiter that now holds a slot and must be told so (SendTaskSuccess with its token)."""

    waiter: Waiter
    prefix: str
    expires_at: int
    grant: int  # the hand-over's id in the lease entry: taking the slot back (waiter gone) needs it

    @property
    def entry(self) -> Entry:
        return Entry(self.expires_at, self.grant)

    def as_event(self) -> dict[str, Any]:
        return {
            "status": "acquired",
            "holder": self.waiter.holder,
            "prefix": self.prefix,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True)
class Released:
    held: bool
    # Handoff mode: the waiter the slot went to, still to be told (SendTaskSuccess).
    handed_to: Admission | None = None

    def as_event(self) -> dict[str, Any]:
        return {"status": "released" if self.held else "not_held"}


@dataclass(frozen=True)
class Renewed:
    expires_at: int

    def as_event(self) -> dict[str, Any]:
        return {"status": "renewed", "expires_at": self.expires_at}


@dataclass(frozen=True)
class CapChange:
    prefix: str
    old: int | None
    new: int


@dataclass(frozen=True)
class HeldLease:
    expires_at: int
    grant: int = 0  # set on a slot handed to a waiter: the random id of that hand-over

    @property
    def entry(self) -> Entry:
        return Entry(self.expires_at, self.grant)


@dataclass(frozen=True)
class LeaseSnapshot:
    """A consistent read of one prefix: its cap and every holder's lease, by holder key (``item_layout``)."""

    prefix: str
    cap: int
    holders: dict[str, HeldLease] = field(default_factory=dict)
    # How long a task started under a lease of this prefix can still run (the Process step's timeout);
    # None until a deploy writes it. Cleanup of an aborted execution keeps its leases that long.
    task_seconds: int | None = None
    waiting: int = 0  # executions queued for a slot (handoff mode)
    enqueued: int = 0  # queueings ever counted (handoff mode): tells a changed queue from an unchanged one
    lease_seconds: int | None = None  # the workload's TTL, written at deploy
    # Set when ``holders`` was not read (caps above item_layout.WIDE_ABOVE_CAP keep each lease in its own
    # item, and a count on the semaphore item): how many holders there are, expired ones included.
    count: int | None = None

    @property
    def held(self) -> int:
        """How many holders count against the cap, expired ones included."""
        return len(self.holders) if self.count is None else self.count

    def lease_of(self, holder: str) -> HeldLease | None:
        return self.holders.get(holder_key(holder))

    def holds(self, holder: str) -> bool:
        return holder_key(holder) in self.holders

    def expired(self, now: int) -> list[str]:
        """Keys of the holders whose lease has expired by ``now``."""
        return sorted(key for key, lease in self.holders.items() if lease.expires_at <= now)

    def active(self, now: int) -> int:
        if self.count is not None:
            return self.count
        return sum(1 for lease in self.holders.values() if lease.expires_at > now)

    def expiries(self) -> dict[str, int]:
        return {key: lease.expires_at for key, lease in self.holders.items()}
