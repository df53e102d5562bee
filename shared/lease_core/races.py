"""How the protocol's loops lose a race and try again: bounded rounds, short random pauses, internal signals."""

from __future__ import annotations

import random
import time

# Rounds of read-and-retry after a lost race before answering "wait" (fail closed).
MAX_ACQUIRE_ROUNDS = 5
# Rounds of looking again after a lost race on a release (another release or admission changed things first).
MAX_ROUNDS = 8


def pause(attempt: int) -> None:
    """A short random pause before trying again after losing a race on the semaphore item."""
    time.sleep(random.uniform(0.002, 0.01) * (attempt + 1))


class NotHeld(Exception):
    """Internal: the releasing holder held nothing to hand over."""


class LookAgain(Exception):
    """Internal: the queue or the semaphore changed under a hand-over; read them again.

    ``place``: the sort key of the place the hand-over tried, when there was one.
    """

    def __init__(self, place: str | None = None) -> None:
        super().__init__(place)
        self.place = place


class OtherLayout(Exception):
    """Internal: the prefix's semaphore item is in the other item layout than the one tried (``wide``)."""

    def __init__(self, wide: bool) -> None:
        super().__init__(wide)
        self.wide = wide
