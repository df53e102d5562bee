"""What to do with the leases and queue places of an execution run that is no longer running.

Step Functions does not stop a Lambda that is already running when it aborts an execution (or times
it out): the function runs on to its own timeout. So:

- a lease of a run that FAILED (or succeeded) is released at once: its failure path ran after its last
  task ended, and an acquire that lands later is of a stopped run, under which nothing can start;
- a lease of a run that was ABORTED or TIMED_OUT may still cover a running task, so its expiry is
  brought forward to the stop time plus the prefix's ``task_seconds`` (the Process step's timeout,
  written at deploy) and the sweeper reclaims it then. Without ``task_seconds`` it keeps its own expiry.

Every write is conditional on the lease being the exact one judged. A failure event names the run
that stopped (its ``redriveCount``): only that run's leases are settled and only its queue places (and
older runs') are dropped, so a late or duplicate event, which EventBridge may deliver (at least once,
best effort: https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html), never touches
a redriven run's lease or place: each run holds under its own key (``item_layout.run_key``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lease_core.item_layout import belongs_to_run
from lease_core.lease_table import LeaseTable
from lease_core.semaphore import HeldLease, LeaseSemaphore, LeaseSnapshot
from lease_core.waiting_room import WaitingRoom

TASKS_MAY_OUTLIVE = frozenset({"ABORTED", "TIMED_OUT"})


@dataclass(frozen=True)
class Settled:
    prefix: str
    holder: str  # the holder key (item_layout.holder_key) or, for a queue place, the holder id
    action: str  # "released"; "deferred" (expiry brought forward, the sweeper reclaims it later); "dequeued"
    until: int | None = None


def settle_lease(
    semaphore: LeaseSemaphore, snapshot: LeaseSnapshot, key: str, lease: HeldLease, *, status: str, stopped_at: int
) -> Settled | None:
    """Release or defer one lease of a stopped run; None if nothing was (or needed to be) changed."""
    if status in TASKS_MAY_OUTLIVE:
        if snapshot.task_seconds is None:
            return Settled(snapshot.prefix, key, "deferred", lease.expires_at)
        deadline = stopped_at + snapshot.task_seconds
        if deadline > semaphore.now():
            semaphore.expire_by(key, deadline)  # never later than it was
            return Settled(snapshot.prefix, key, "deferred", min(deadline, lease.expires_at))
    if semaphore.release_exact(key, lease.entry):
        return Settled(snapshot.prefix, key, "released")
    return None


def settle_run(
    table: LeaseTable,
    execution_arn: str,
    *,
    status: str,
    stopped_at: int,
    run: int = 0,
    snapshots: list[LeaseSnapshot] | None = None,
    only_counted_queues: bool = False,
) -> list[Settled]:
    """Settle every lease of run ``run`` of the execution, in every prefix. Queue places of that run and of
    older ones are dropped; a newer run is left alone. ``only_counted_queues`` (the sweeper, every minute):
    look for places only in prefixes whose ``waiting`` count is above 0 (a place cut short before it was
    counted is the failure event's to find)."""
    settled = []
    for snapshot in snapshots if snapshots is not None else table.snapshots():
        semaphore = table.semaphore(snapshot.prefix)
        room = WaitingRoom(semaphore)
        queue_runs = 0 if only_counted_queues and snapshot.waiting <= 0 else run + 1
        for older in range(queue_runs):
            for waiter in room.places_of_run(execution_arn, older):
                if room.remove(waiter):
                    settled.append(Settled(snapshot.prefix, waiter.holder, "dequeued"))
        for key, lease in snapshot.holders.items():
            if belongs_to_run(key, execution_arn, run):
                outcome = settle_lease(semaphore, snapshot, key, lease, status=status, stopped_at=stopped_at)
                if outcome is not None:
                    settled.append(outcome)
    return settled
