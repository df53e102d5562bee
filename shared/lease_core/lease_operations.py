"""What an acquire or a release does, in either wait mode: the protocol's orchestration, apart from any Lambda.

Poll mode: acquire is one admission attempt that answers at once (``acquired`` or ``wait``, with how
long the execution has waited, so the workflow can space its polls). Handoff mode: acquire is invoked
by a ``.waitForTaskToken`` task; it admits at once (and answers its own task) or queues the execution
with its task token, then gives any slot freed meanwhile to the head of the queue, so that no wakeup is
lost. A release that hands its slot to a waiter tells that waiter (``task_callbacks.pass_on``).

The Chalice blueprints only turn events into these calls.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from lease_core.errors import InvalidLeaseRequest, LeaseStoreUnavailable
from lease_core.semaphore import MAX_ROUNDS, Acquired, Admission, LeaseSemaphore, MustWait, Released
from lease_core.task_callbacks import pass_on, tell
from lease_core.wait_time import seconds_waited
from lease_core.waiting_room import Waiter, WaitingRoom

POLL = "poll"
HANDOFF = "handoff"
# A poll mode acquire of an execution that has waited this long is a re-poll: it reads before it writes.
PEEK_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Queued:
    """Handoff mode: no free slot; the holder waits in line (since ``queued_at``) and will be told."""

    queued_at: float  # epoch seconds: its place in line

    def as_event(self) -> dict[str, Any]:
        return {"status": "queued", "queued_at": self.queued_at}


def acquire(
    semaphore: LeaseSemaphore,
    holder: str,
    *,
    wait_mode: str,
    task_token: str | None = None,
    waiting_since: float | None = None,
    stepfunctions: Any = None,
) -> Acquired | MustWait | Queued:
    """Admit ``holder`` or say how it waits: ``MustWait`` (poll mode) or ``Queued`` (handoff mode)."""
    if wait_mode == POLL:
        if task_token is not None:
            raise InvalidLeaseRequest("task_token given, but LEASE_WAIT_MODE is poll: acquire answers at once")
        waited = None if waiting_since is None else seconds_waited(waiting_since, semaphore.now_ms() / 1000)
        # A poll after a wait looks first (a read), so that a crowd of pollers does not spend the
        # partition's write units on failed conditions; a first attempt writes at once.
        outcome = (semaphore.looks_full() if waited is not None and waited >= PEEK_AFTER_SECONDS else None) or (
            semaphore.acquire(holder)
        )
        if isinstance(outcome, MustWait) and waited is not None:
            # How long it has waited: the workflow waits longer between polls the longer that is.
            return replace(outcome, waited=waited)
        return outcome
    if waiting_since is not None:
        raise InvalidLeaseRequest("waiting_since given, but LEASE_WAIT_MODE is handoff: a queued waiter does not poll")
    if task_token is None:
        raise InvalidLeaseRequest(
            "LEASE_WAIT_MODE is handoff: invoke acquire from a lambda:invoke.waitForTaskToken task with "
            '"task_token.$": "$$.Task.Token"'
        )
    return acquire_or_queue(semaphore, stepfunctions, holder, task_token)


def acquire_or_queue(semaphore: LeaseSemaphore, stepfunctions: Any, holder: str, task_token: str) -> Acquired | Queued:
    """Handoff mode: take a free slot if nobody waits for one, else queue with ``task_token`` and fill free slots."""
    room = WaitingRoom(semaphore)
    for _ in range(MAX_ROUNDS):
        outcome = semaphore.acquire(holder, behind_waiters=True)
        if isinstance(outcome, Acquired):
            # Its own task waits for this answer too; if it timed out meanwhile, its re-check finds the slot.
            tell(stepfunctions, Admission(Waiter(holder, task_token, ""), outcome.prefix, outcome.expires_at, grant=0))
            return outcome
        queued = room.join(holder, task_token)
        if queued is not None:
            break
    else:
        raise LeaseStoreUnavailable(f"could not queue for prefix {semaphore.prefix!r}: the queue kept changing")
    # A slot freed between the failed admission and the queueing is given out now: no lost wakeup.
    waiter, seen = queued
    for admission in room.fill_free_slots(seen):
        pass_on(semaphore, stepfunctions, admission)
    return Queued(waiter.enqueued_at)


def release(semaphore: LeaseSemaphore, holder: str, *, stepfunctions: Any = None) -> Released:
    """Give the slot back; a slot handed to a waiter is told to that waiter."""
    outcome = semaphore.release(holder)
    if outcome.handed_to is not None:
        pass_on(semaphore, stepfunctions, outcome.handed_to)
    return outcome
