"""The semaphore's specification as a plain in-memory model, shared by the hypothesis state machines."""

from __future__ import annotations

from hypothesis import strategies as st

from lease_core import Acquired, MustWait
from lease_core.item_layout import WIDE_ABOVE_CAP
from tests.helpers import arn

# Three executions, two runs each (a redriven run is another holder); the table stores each under its run's key.
HOLDERS = st.sampled_from([arn("states", f"execution:wf:run-{n % 3}#{n // 3}") for n in range(6)])
TTL = 30


class SemaphoreModel:
    """The specification in a dozen lines: a dict of holders and a cap."""

    def __init__(self, cap: int, wide_above: int = WIDE_ABOVE_CAP) -> None:
        self.cap = cap
        self.holders: dict[str, int] = {}
        self.wide_above = wide_above
        self.wide = cap > wide_above

    def set_cap(self, cap: int) -> None:
        """The layout follows the cap only while nobody holds (expired holders count until reclaimed)."""
        self.cap = cap
        if not self.holders:
            self.wide = cap > self.wide_above

    def acquire(self, holder: str, now: int) -> Acquired | MustWait:
        if holder not in self.holders and self.wide:
            # The wide layout does not see expired leases on admission: the sweeper reclaims them.
            if len(self.holders) >= self.cap:
                return MustWait(active=len(self.holders), cap=self.cap)
        elif holder not in self.holders:
            expired = [name for name, expiry in self.holders.items() if expiry <= now]
            if len(self.holders) - len(expired) >= self.cap:
                return MustWait(active=len(self.holders) - len(expired), cap=self.cap)
            if len(self.holders) >= self.cap:
                for name in expired:
                    del self.holders[name]
        self.holders[holder] = now + TTL
        return Acquired(holder, "model", now + TTL)
