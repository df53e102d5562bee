"""Every execution the local runners of this process started, by ARN: what Step Functions' API answers from.

``LocalRunner`` adds each execution here. ``route_moto_executions`` (in
``moto_routes``) answers DescribeExecution, StopExecution and RedriveExecution
from it, and ``status_change_event`` builds the EventBridge event of an
attempt's end. An execution that succeeded can never be redriven: only a summary
of it is kept, so that a long local run does not keep every history.
"""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from lease_ops.local_runner.execution import REDRIVABLE, Execution, ExecutionResult


class Redriver(Protocol):
    def redrive(self, arn: str, *, pending_seconds: float = 0.0) -> Any:
        """RedriveExecution of one of its executions."""


class ExecutionRecord(Protocol):
    status: str
    start_date: datetime.datetime
    stop_date: datetime.datetime | None
    redrive_count: int
    redrive_date: datetime.datetime | None
    error: str | None
    cause: str | None


@dataclass(frozen=True)
class Ended:
    """What is kept of an execution that succeeded."""

    status: str
    start_date: datetime.datetime
    stop_date: datetime.datetime | None
    redrive_count: int
    redrive_date: datetime.datetime | None
    error: str | None = None
    cause: str | None = None


class LocalExecutions:
    def __init__(self) -> None:
        self._live: dict[str, tuple[Execution, Redriver]] = {}
        self._ended: dict[str, Ended] = {}
        self._lock = threading.Lock()

    def add(self, execution: Execution, runner: Redriver) -> None:
        with self._lock:
            self._ended.pop(execution.arn, None)
            self._live[execution.arn] = (execution, runner)

    def succeeded(self, execution: Execution) -> None:
        """Keep only a summary of ``execution`` if it SUCCEEDED (and was not started again under its ARN)."""
        with self._lock:
            entry = self._live.get(execution.arn)
            if execution.status != "SUCCEEDED" or entry is None or entry[0] is not execution:
                return
            del self._live[execution.arn]
            self._ended[execution.arn] = Ended(
                "SUCCEEDED", execution.start_date, execution.stop_date, execution.redrive_count, execution.redrive_date
            )

    def live(self, arn: str) -> tuple[Execution, Redriver] | None:
        with self._lock:
            return self._live.get(arn)

    def record(self, arn: str) -> ExecutionRecord | None:
        """The execution's current status and dates, live or summarised; None if no local runner ran it."""
        with self._lock:
            entry = self._live.get(arn)
            return entry[0] if entry is not None else self._ended.get(arn)


LOCAL_EXECUTIONS = LocalExecutions()  # the executions of this process's local runners


def _epoch_ms(moment: datetime.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def redrive_fields(status: str, redrive_count: int, redrive_date: datetime.datetime | None) -> dict[str, Any]:
    """The redrive fields of DescribeExecution and of the status-change event, for an execution in ``status``.

    https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html: redriveCount
    (0 until redriven), redriveDate (absent until redriven), redriveStatus (NOT_REDRIVABLE when
    RedriveExecution would answer ExecutionNotRedrivable) and redriveStatusReason (then, e.g. "Execution is
    RUNNING and cannot be redriven").
    """
    fields: dict[str, Any] = {"redriveCount": redrive_count}
    if redrive_date is not None:
        fields["redriveDate"] = redrive_date
    if status in REDRIVABLE:
        fields["redriveStatus"] = "REDRIVABLE"
    else:
        fields["redriveStatus"] = "NOT_REDRIVABLE"
        fields["redriveStatusReason"] = f"Execution is {status} and cannot be redriven"
    return fields


def status_change_event(
    result: ExecutionResult, *, account_id: str, region: str, stopped: datetime.datetime | None = None
) -> dict[str, Any]:
    """The "Step Functions Execution Status Change" event EventBridge delivers when an attempt ends.

    Its detail carries, besides the status and dates (epoch milliseconds; ``stopped``, else the result's stop
    date), the execution's redrive fields (redriveCount, redriveDate, redriveStatus, redriveStatusReason), as
    the events Step Functions sends since redrive exists: https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html
    """
    stopped = stopped or result.stop_date or datetime.datetime.now(datetime.UTC)
    redrive = redrive_fields(result.status, result.redrive_count, result.redrive_date)
    redrive["redriveDate"] = _epoch_ms(result.redrive_date)
    detail: dict[str, Any] = {
        "executionArn": result.arn,
        "stateMachineArn": result.arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0],
        "name": result.name,
        "status": result.status,
        "stateMachineVersionArn": None,  # the runner runs definitions, not published versions or aliases
        "stateMachineAliasArn": None,
        "startDate": _epoch_ms(result.start_date),
        "stopDate": _epoch_ms(stopped),
        "input": json.dumps(result.input),
        "inputDetails": {"included": True},
        "output": json.dumps(result.output) if result.status == "SUCCEEDED" else None,
        "outputDetails": {"included": True} if result.status == "SUCCEEDED" else None,
        **redrive,
        "error": result.error,
        "cause": result.cause,
    }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": account_id,
        "time": stopped.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [result.arn],
        "detail": detail,
    }
