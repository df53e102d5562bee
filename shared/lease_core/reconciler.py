"""The sweeper: reclaim expired holders, and settle holders whose Step Functions execution stopped.

The failure event of an execution settles its leases right away, but an acquire
that was already in flight can land after that; expiry would only catch it
after its TTL. Each sweep therefore asks Step Functions about every holder that
is a Standard execution ARN of this account and region (older than
``min_age_seconds``) and, unless the execution is RUNNING, settles its lease by
the rules of ``execution_cleanup``. Holders it cannot judge (another account or
region, an Express execution, an error from Step Functions) are left alone and
reported.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lease_core.execution_arns import execution_of
from lease_core.execution_cleanup import Settled, settle_lease
from lease_core.lease_table import LeaseTable, ReleasedHolder
from lease_core.waiting_room import WaitingRoom

GONE = "GONE"  # Step Functions does not know the execution: nothing can be running under it


@dataclass(frozen=True)
class ExecutionState:
    status: str
    stopped_at: int | None


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
                state = states[match["arn"]]
                if state is None:
                    report.not_judged.append(holder)
                    continue
                if state.status == "RUNNING":
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
            state = states[match["arn"]]
            if state is not None and state.status != "RUNNING" and room.remove(waiter):
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
        return ExecutionState(str(described["status"]), _epoch(described.get("stopDate")))
