"""The sweeper: reclaim expired holders, and holders whose Step Functions execution is no longer running.

The failure event of an execution releases its holders right away, but an
acquire that was already in flight can land after that; expiry would only
catch it after its TTL. Each sweep therefore asks Step Functions about every
holder that is an execution ARN of this account and region, older than
``min_age_seconds``, and releases it unless the execution is RUNNING. Holders
it cannot judge (another account or region, an Express execution, an answer
other than a status) are left alone and logged. A release only removes the lease
that was judged: a newer lease of the same holder (a redriven execution) stays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lease_core.lease_table import LeaseTable, ReleasedHolder

EXECUTION_ARN = re.compile(
    r"(?P<arn>arn:(?P<partition>[a-z-]+):states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"execution:[^:/]+:[^:/]+)(?:/.*)?"
)


@dataclass
class SweepReport:
    expired: list[ReleasedHolder] = field(default_factory=list)
    execution_ended: list[ReleasedHolder] = field(default_factory=list)
    not_judged: list[str] = field(default_factory=list)


def execution_of(holder: str) -> re.Match[str] | None:
    """The Standard execution ARN a holder id names (``arn`` group), if it names one."""
    return EXECUTION_ARN.fullmatch(holder)


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
        status_of: dict[str, str | None] = {}
        for snapshot in self.table.snapshots():
            semaphore = self.table.semaphore(snapshot.prefix)
            now = semaphore.now()
            expired = semaphore.reclaim(snapshot.expired(now))
            report.expired += [ReleasedHolder(snapshot.prefix, holder) for holder in expired]
            for holder, lease in snapshot.holders.items():
                match = execution_of(holder)
                too_young = self.min_age_seconds > 0 and now - lease.acquired_at < self.min_age_seconds
                if holder in expired or match is None or too_young:
                    continue
                if match["arn"] not in status_of:
                    status_of[match["arn"]] = self._status(match)
                status = status_of[match["arn"]]
                if status is None:
                    report.not_judged.append(holder)
                elif status != "RUNNING" and semaphore.release_if_acquired_by(holder, lease.acquired_at):
                    report.execution_ended.append(ReleasedHolder(snapshot.prefix, holder))
        return report

    def _status(self, match: re.Match[str]) -> str | None:
        """RUNNING, another status, "GONE" for an execution Step Functions does not know, None if unknowable."""
        if match["region"] != self.region or (self.account_id and match["account"] != self.account_id):
            return None
        try:
            return str(self.stepfunctions.describe_execution(executionArn=match["arn"])["status"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return "GONE"
            return None
        except BotoCoreError:
            return None
