"""The platform app's cleanup Lambdas: reclaim on execution failure, and the sweeper every minute."""

from __future__ import annotations

import datetime
from typing import Any

from chalice import Blueprint, Rate

from lease_core import ended_runs, observability
from lease_core.aws_clients import client_for
from lease_core.errors import InvalidLeaseRequest
from lease_core.execution_cleanup import Settled, settle_run
from lease_core.lease_table import LeaseTable
from lease_core.observability import logger, record_metric
from lease_core.platform_settings import PlatformSettings
from lease_core.reclaim_rule import FAILED_STATUSES, execution_ended_pattern, state_machine_names
from lease_core.reconciler import Reconciler
from lease_core.settings import current_environment
from lease_core.task_callbacks import serve_waiting

lease_cleanup = Blueprint(__name__)

# Read when Chalice loads the app, with the stage's environment set (see lease_core.reclaim_rule).
EXECUTION_ENDED = execution_ended_pattern(state_machine_names(current_environment()))


def _settings() -> tuple[PlatformSettings, dict[str, str]]:
    environment = dict(current_environment())
    return PlatformSettings.from_environment(environment), environment


def _stopped_at(event: Any) -> int:
    """When the execution stopped (epoch seconds): detail.stopDate (ms), else the event's time, else now."""
    stop_date = event.detail.get("stopDate")
    if isinstance(stop_date, int | float) and not isinstance(stop_date, bool):
        return int(stop_date // 1000)
    try:
        return int(datetime.datetime.fromisoformat(str(event.time).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return int(datetime.datetime.now(datetime.UTC).timestamp())


def _stopped_run(event: Any) -> int:
    """Which run of the execution stopped: detail.redriveCount, 0 when absent (an execution never redriven).

    https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html#StepFunctions-DescribeExecution-response-redriveCount
    """
    count = event.detail.get("redriveCount")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    return 0


@lease_cleanup.on_cw_event(EXECUTION_ENDED, name="reclaim")
def reclaim(event: Any) -> dict[str, Any]:
    """Release every lease of an execution that FAILED, TIMED_OUT or was ABORTED, in every prefix."""
    execution_arn = event.detail.get("executionArn") if isinstance(event.detail, dict) else None
    status = event.detail.get("status") if isinstance(event.detail, dict) else None
    if not isinstance(execution_arn, str) or not execution_arn or status not in FAILED_STATUSES:
        # Not retried: EventBridge would deliver the same malformed event again.
        logger.error("ignored an event that is not a failed execution", extra={"event": event.to_dict()})
        return {"released": [], "deferred": []}
    settings, environment = _settings()
    table = LeaseTable(client_for("dynamodb", environment), settings.table_name)
    stopped = ended_runs.EndedRun(execution_arn, _stopped_run(event), status, _stopped_at(event))
    # Recorded first: the sweeper settles the run again, for an acquire that lands after this event.
    ended_runs.record(table.table, stopped, now=int(table.clock()))
    settled = settle_run(table, execution_arn, status=status, stopped_at=stopped.stopped_at, run=stopped.run)
    _report_settled(settled, reason=f"execution_{status.lower()}")
    serve_waiting(table, client_for("stepfunctions", environment))
    return {
        "released": [{"prefix": s.prefix, "holder": s.holder} for s in settled if s.action == "released"],
        "deferred": [
            {"prefix": s.prefix, "holder": s.holder, "until": s.until} for s in settled if s.action == "deferred"
        ],
    }


def _report_settled(settled: list[Settled], *, reason: str) -> None:
    for item in settled:
        context = {"prefix": item.prefix, "holder": item.holder, "reason": reason}
        if item.action == "released":
            record_metric(observability.RECLAIMED, prefix=item.prefix, reason=reason)
            logger.info("lease reclaimed", extra=context)
        elif item.action == "dequeued":
            logger.info("waiter of an ended execution left the queue", extra=context)
        else:
            # A task of the stopped execution may still be running: the sweeper reclaims the lease at "until".
            logger.info("lease reclaim deferred", extra={**context, "until": item.until})


@lease_cleanup.schedule(Rate(1, unit=Rate.MINUTES), name="sweeper")
def sweeper(event: Any) -> dict[str, Any]:
    """Reclaim expired leases, and leases of executions that are no longer running."""
    try:
        settings, environment = _settings()
    except InvalidLeaseRequest as exc:
        logger.error("sweeper misconfigured", extra={"reason": str(exc)})
        raise
    reconciler = Reconciler(LeaseTable(client_for("dynamodb", environment), settings.table_name))
    report = reconciler.sweep()
    handed_over = serve_waiting(reconciler.table, client_for("stepfunctions", environment))
    for item in report.expired:
        record_metric(observability.RECLAIMED, prefix=item.prefix, reason="expired")
        logger.info("lease reclaimed", extra={"prefix": item.prefix, "holder": item.holder, "reason": "expired"})
    _report_settled(report.execution_ended, reason="execution_ended")
    return {
        "expired": len(report.expired),
        "execution_ended": sum(item.action == "released" for item in report.execution_ended),
        "deferred": sum(item.action == "deferred" for item in report.execution_ended),
        "dequeued": sum(item.action == "dequeued" for item in report.execution_ended),
        "handed_over": handed_over,
    }
