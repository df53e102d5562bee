"""Telling a waiting execution it holds a slot now: SendTaskSuccess on its task token (handoff mode).

A waiter whose execution has ended can no longer be told (Step Functions answers
TaskTimedOut, InvalidToken or TaskDoesNotExist); its slot is then passed on to
the next waiter, and so on. TaskTimedOut also means a live execution whose wait
just timed out: if DescribeExecution says it still runs, it keeps the slot (its
re-check finds it) rather than losing its place. Any other failure to tell is
not fatal: the waiter holds its slot, and its waiting task re-checks by itself.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lease_core import observability
from lease_core.execution_arns import execution_of, run_of
from lease_core.lease_table import LeaseTable
from lease_core.observability import logger, record_metric
from lease_core.semaphore import Admission, LeaseSemaphore, LeaseSnapshot
from lease_core.waiting_room import WaitingRoom

WAITER_GONE = frozenset({"InvalidToken", "TaskDoesNotExist"})
TASK_CLOSED = "TaskTimedOut"  # the waiting task ended: its execution ended, or its wait timed out and it re-checks
MAX_PASSES = 50  # waiters skipped in a row before giving up (the sweeper carries on)
# How long a slot handed over by the platform app lasts when the workload's TTL was never recorded
# (`make deploy`/`make caps` record it): long rather than short, so that no live holder loses it.
UNRECORDED_LEASE_SECONDS = 3600


def granting_semaphore(table: LeaseTable, snapshot: LeaseSnapshot) -> LeaseSemaphore:
    """The prefix's semaphore as the platform app hands its slots over: with the workload's recorded TTL."""
    return table.semaphore(snapshot.prefix, ttl_seconds=snapshot.lease_seconds or UNRECORDED_LEASE_SECONDS)


class Told(Enum):
    YES = "told"
    GONE = "gone"  # the token names no waiting task any more: its slot must go to someone else
    CLOSED = "closed"  # the task closed: gone, unless its execution still runs (it re-checks, finds its slot)


def tell(stepfunctions: Any, admission: Admission) -> Told:
    """SendTaskSuccess to the admitted waiter.

    Any failure other than a closed or unknown token is not the waiter's end: it keeps its slot,
    and its waiting task re-checks by itself when it times out.
    """
    try:
        stepfunctions.send_task_success(taskToken=admission.waiter.token, output=json.dumps(admission.as_event()))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == TASK_CLOSED:
            return Told.CLOSED
        if code in WAITER_GONE:
            return Told.GONE
        logger.warning("could not tell a waiter", extra={"holder": admission.waiter.holder, "reason": code})
    except BotoCoreError as exc:
        logger.warning("could not tell a waiter", extra={"holder": admission.waiter.holder, "reason": str(exc)})
    return Told.YES


def still_running(stepfunctions: Any, holder: str) -> bool:
    """Whether the holder's execution runs: then a closed wait was a timeout, and its re-check finds the slot.

    Unknowable (not an execution ARN, no permission, any error) counts as not running: the slot is
    passed on, so a dead waiter never keeps it; a live one then queues again.
    """
    match = execution_of(holder)
    if match is None:
        return False
    try:
        described = stepfunctions.describe_execution(executionArn=match["arn"])
    except (ClientError, BotoCoreError):
        return False
    # A redriven execution runs again under the same ARN, but a newer run is not this waiter.
    return described.get("status") == "RUNNING" and int(described.get("redriveCount") or 0) == run_of(match)


def pass_on(semaphore: LeaseSemaphore, stepfunctions: Any, admission: Admission | None) -> None:
    """Tell ``admission``'s waiter; while waiters turn out to be gone, give their slot to the next one."""
    for _ in range(MAX_PASSES):
        if admission is None:
            return
        told = tell(stepfunctions, admission)
        if told is Told.YES or (told is Told.CLOSED and still_running(stepfunctions, admission.waiter.holder)):
            record_metric(observability.HANDED_OVER, prefix=admission.prefix)
            return
        record_metric(observability.HANDOFF_SKIPPED, prefix=admission.prefix)
        logger.info(
            "waiter gone, slot passed on", extra={"prefix": admission.prefix, "holder": admission.waiter.holder}
        )
        admission = semaphore.release(admission.waiter.holder, exact=admission.entry).handed_to
    logger.warning("stopped passing a slot on after many gone waiters", extra={"prefix": semaphore.prefix})


def serve_waiting(table: LeaseTable, stepfunctions: Any) -> int:
    """Give every free slot of every prefix to its oldest waiters (after a reclaim, a sweep, a raised cap)."""
    served = 0
    for snapshot in table.snapshots():
        if snapshot.waiting <= 0:
            continue
        semaphore = granting_semaphore(table, snapshot)
        for admission in WaitingRoom(semaphore).fill_free_slots():
            pass_on(semaphore, stepfunctions, admission)
            served += 1
    return served
