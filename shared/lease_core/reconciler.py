"""The sweeper: reclaim expired holders, and settle holders whose Step Functions execution stopped.

The failure event of an execution settles its leases right away, but an acquire
that was already in flight can land after that; expiry would only catch it
after its TTL. Each sweep therefore asks Step Functions about every holder that
is a Standard execution ARN of this account and region (older than
``min_age_seconds``) and, unless the execution is RUNNING, settles its lease by
the rules of ``execution_cleanup``. Holders it cannot judge (another account or
region, an Express execution, an error from Step Functions) are left alone and
reported.

Runs (see ``execution_arns``): DescribeExecution describes the execution's latest run
(``redriveCount``). A holder of an older run belongs to a run that stopped before the
latest redrive, and a task of it may still run, so it is settled as an aborted run
stopped at ``redriveDate``. ``PENDING_REDRIVE`` means the latest run stopped and a redrive
is under way: its leases are settled as an aborted run's (kept until a task it started
cannot run any more), never released at once
(https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lease_core.execution_arns import execution_of, run_of
from lease_core.execution_cleanup import Settled, settle_lease
from lease_core.lease_table import LeaseTable, ReleasedHolder
from lease_core.waiting_room import WaitingRoom

GONE = "GONE"  # Step Functions does not know the execution: nothing can be running under it
PENDING_REDRIVE = "PENDING_REDRIVE"
# How a stopped run whose tasks may still be running is settled (see execution_cleanup.TASKS_MAY_OUTLIVE).
STOPPED_WHILE_TASKS_MAY_RUN = "ABORTED"


@dataclass(frozen=True)
class ExecutionState:
    status: str
    stopped_at: int | None
    run: int = 0  # the latest run (redriveCount)
    redriven_at: int | None = None  # when the latest run was started by a redrive (redriveDate)

    def of_run(self, run: int, now: int) -> ExecutionState | None:
        """How run ``run`` of the execution stands; None while it may still be running (leave it alone)."""
        if run < self.run:
            return ExecutionState(STOPPED_WHILE_TASKS_MAY_RUN, self.redriven_at or now, run)
        if run > self.run or self.status == "RUNNING":
            return None
        if self.status == PENDING_REDRIVE:
            return ExecutionState(STOPPED_WHILE_TASKS_MAY_RUN, self.stopped_at or now, run)
        return self


@dataclass
class SweepReport:
    expired: list[ReleasedHolder] = field(default_factory=list)
    execution_ended: list[Settled] = field(default_factory=list)
    not_judged: list[str] = field(default_factory=list)


def _epoch(value: Any) -> int | None:
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    return None


class Reconciler:
    def __init__(
        self, table: LeaseTable, stepfunctions: Any, *, region: str, account_id: str | None, min_age_seconds: int = 0
    ) -> None:
        self.table = table
        self.stepfunctions = stepfunctions
        self.region = region
        self.account_id = account_id
        self.min_age_seconds = min_age_seconds

    def sweep(self) -> SweepReport:
        report = SweepReport()
        states: dict[str, ExecutionState | None] = {}
        for snapshot in self.table.snapshots():
            semaphore = self.table.semaphore(snapshot.prefix)
            now = semaphore.now()
            expired = semaphore.reclaim(snapshot.expired(now))
            report.expired += [ReleasedHolder(snapshot.prefix, holder) for holder in expired]
            if snapshot.waiting > 0:
                self._drop_waiters_of_ended_executions(WaitingRoom(semaphore), states, report)
            for holder, lease in snapshot.holders.items():
                match = execution_of(holder)
                too_young = self.min_age_seconds > 0 and now - lease.acquired_at < self.min_age_seconds
                if holder in expired or match is None or too_young:
                    continue
                if match["arn"] not in states:
                    states[match["arn"]] = self._state(match)
                execution = states[match["arn"]]
                if execution is None:
                    report.not_judged.append(holder)
                    continue
                state = execution.of_run(run_of(match), now)
                if state is None:
                    continue
                settled = settle_lease(
                    semaphore,
                    snapshot,
                    holder,
                    lease,
                    status=state.status,
                    stopped_at=state.stopped_at if state.stopped_at is not None else now,
                    release_late_acquires=True,
                )
                if settled is not None:
                    report.execution_ended.append(settled)
        return report

    def _drop_waiters_of_ended_executions(
        self, room: WaitingRoom, states: dict[str, ExecutionState | None], report: SweepReport
    ) -> None:
        now = room.semaphore.now()
        for waiter in room.waiters():
            match = execution_of(waiter.holder)
            if match is None or (self.min_age_seconds > 0 and now - waiter.enqueued_at < self.min_age_seconds):
                continue
            if match["arn"] not in states:
                states[match["arn"]] = self._state(match)
            execution = states[match["arn"]]
            if execution is not None and execution.of_run(run_of(match), now) is not None and room.remove(waiter):
                report.execution_ended.append(Settled(room.semaphore.prefix, waiter.holder, "dequeued"))

    def _state(self, match: re.Match[str]) -> ExecutionState | None:
        """The execution's status and stop time; GONE if Step Functions does not know it, None if unknowable."""
        if match["region"] != self.region or (self.account_id and match["account"] != self.account_id):
            return None
        try:
            described = self.stepfunctions.describe_execution(executionArn=match["arn"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return ExecutionState(GONE, None)
            return None
        except BotoCoreError:
            return None
        return ExecutionState(
            str(described["status"]),
            _epoch(described.get("stopDate")),
            run=int(described.get("redriveCount") or 0),
            redriven_at=_epoch(described.get("redriveDate")),
        )
