"""The sweeper: reclaim expired holders, and settle again the runs whose failure events arrived lately.

A failure event settles a stopped run's leases at once (``execution_cleanup``) and records the run
(``ended_runs``), but an acquire that was already in flight can land after that; expiry would only
catch it after its TTL. Each sweep therefore settles every recently recorded run again, in every
prefix: the conditional writes make that a no-op for what is already settled. Holders are stored by
key, not by execution ARN, so the sweeper asks Step Functions nothing; a run whose failure event never
arrived keeps its leases until they expire.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lease_core import ended_runs
from lease_core.execution_cleanup import Settled, settle_run
from lease_core.lease_table import LeaseTable, ReleasedHolder


@dataclass
class SweepReport:
    expired: list[ReleasedHolder] = field(default_factory=list)
    execution_ended: list[Settled] = field(default_factory=list)


class Reconciler:
    def __init__(self, table: LeaseTable) -> None:
        self.table = table

    def sweep(self) -> SweepReport:
        report = SweepReport()
        snapshots = self.table.snapshots()
        for snapshot in snapshots:
            semaphore = self.table.semaphore(snapshot.prefix)
            expired = semaphore.reclaim(snapshot.expired(semaphore.now()))
            report.expired += [ReleasedHolder(snapshot.prefix, key) for key in expired]
        now = int(self.table.clock())
        recent = ended_runs.recent(self.table.table, now=now)
        if recent:
            snapshots = self.table.snapshots()  # after the reclaims above
        # A lease deferred by an earlier settling is "deferred" again at every sweep: report a deferral only
        # when this sweep brought the lease's expiry forward (an acquire that landed after the failure event).
        expiries = {(s.prefix, key): lease.expires_at for s in snapshots for key, lease in s.holders.items()}
        for run in recent:
            settled = settle_run(
                self.table,
                run.execution_arn,
                status=run.status,
                stopped_at=run.stopped_at,
                run=run.run,
                snapshots=snapshots,
                only_counted_queues=True,
            )
            report.execution_ended += [
                item
                for item in settled
                if item.action != "deferred"
                or (item.until is not None and expiries.get((item.prefix, item.holder), item.until) > item.until)
            ]
        return report
