"""What to do with the leases of an execution that is no longer running.

Step Functions does not stop a Lambda that is already running when it aborts an
execution (or times it out): the function runs on to its own timeout. So:

- a lease acquired after the execution stopped came from an acquire that was
  still in flight; nothing can run under it, and it is released (by the
  sweeper, which first checks that the execution is not running again);
- a lease of an execution that FAILED (or succeeded) is released at once: its
  failure path ran after its last task ended;
- a lease of an execution that was ABORTED or TIMED_OUT may still cover a
  running task, so its expiry is brought forward to the stop time plus the
  prefix's ``task_seconds`` (the Process step's timeout, written at deploy) and
  the sweeper reclaims it then. Without ``task_seconds`` it keeps its own expiry.

Every write is conditional on the lease being the one judged (acquired by the
stop time, or the exact acquisition seen). A failure event names the run that
stopped (its ``redriveCount``): only that run's leases are settled and only its
queue places (and older runs') are dropped, so a late or duplicate event, which
EventBridge may deliver (at least once, best effort:
https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html),
never touches a redriven run's lease or place (see ``execution_arns``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lease_core.execution_arns import holder_run
from lease_core.lease_table import LeaseTable
from lease_core.semaphore import HeldLease, LeaseSemaphore, LeaseSnapshot
from lease_core.waiting_room import WaitingRoom

TASKS_MAY_OUTLIVE = frozenset({"ABORTED", "TIMED_OUT"})


@dataclass(frozen=True)
class Settled:
    prefix: str
    holder: str
    action: str  # "released"; "deferred" (expiry brought forward, the sweeper reclaims it later); "dequeued"
    until: int | None = None


def settle_lease(
    semaphore: LeaseSemaphore,
    snapshot: LeaseSnapshot,
    holder: str,
    lease: HeldLease,
    *,
    status: str,
    stopped_at: int,
    release_late_acquires: bool,
) -> Settled | None:
    """Release or defer one lease of a stopped execution; None if nothing was (or needed to be) changed."""
    if lease.acquired_at > stopped_at:
        if release_late_acquires and semaphore.release_if_acquired_by(holder, lease.acquired_at):
            return Settled(snapshot.prefix, holder, "released")
        return None
    if status in TASKS_MAY_OUTLIVE:
        if snapshot.task_seconds is None:
            return Settled(snapshot.prefix, holder, "deferred", lease.expires_at)
        deadline = stopped_at + snapshot.task_seconds
        if deadline > semaphore.now():
            semaphore.expire_by(holder, deadline, acquired_by=stopped_at)
            return Settled(snapshot.prefix, holder, "deferred", min(deadline, lease.expires_at))
    if semaphore.release_if_acquired_by(holder, stopped_at):
        return Settled(snapshot.prefix, holder, "released")
    return None


def settle_execution(
    table: LeaseTable, execution_arn: str, *, status: str, stopped_at: int, run: int = 0
) -> list[Settled]:
    """Settle every lease of run ``run`` of the execution, in every prefix (from its failure event: late acquires
    wait for the sweeper). Queue places of that run and of older ones are dropped; a newer run is left alone."""
    settled = []
    for snapshot in table.snapshots():
        semaphore = table.semaphore(snapshot.prefix)
        if snapshot.waiting > 0:  # handoff mode: a dead execution leaves the queue too
            room = WaitingRoom(semaphore)
            for waiter in room.waiters():
                waiter_run = holder_run(waiter.holder, execution_arn)
                if waiter_run is not None and waiter_run <= run and room.remove(waiter):
                    settled.append(Settled(snapshot.prefix, waiter.holder, "dequeued"))
        for holder, lease in snapshot.holders.items():
            if holder_run(holder, execution_arn) == run:
                outcome = settle_lease(
                    semaphore,
                    snapshot,
                    holder,
                    lease,
                    status=status,
                    stopped_at=stopped_at,
                    release_late_acquires=False,
                )
                if outcome is not None:
                    settled.append(outcome)
    return settled
