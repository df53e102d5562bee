"""Render lease-guarded Step Functions definitions from reusable state fragments.

Every workflow has the same skeleton around its own Process state::

    Acquire → CheckLease ─acquired→ Process → Release → Complete
                 │ wait                  (chunked: Process → MoreChunks → Renew → Process)
                 ↓
            WaitForLease ↺ Acquire

and one failure path: any error from Acquire onwards is caught into ``$.error``,
goes through ``ReleaseAfterFailure`` (release is idempotent, so it is safe even
when no lease was granted) and ends in ``Failed``, which reports the original
error. ``LeaseStoreUnavailable`` and Lambda service errors are retried with
backoff and full jitter; ``InvalidLeaseRequest`` and ``LeaseLost`` never are.

``lease_guarded_definition`` accepts any Process state, so a team can wrap its
own task (an ECS run, a Glue job) in the same lease. The result is checked by
``workflow_graph.assert_process_needs_a_lease`` before it is returned.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from lease_ops.workflow_graph import assert_process_needs_a_lease

ACQUIRE = "Acquire"
CHECK_LEASE = "CheckLease"
WAIT_FOR_LEASE = "WaitForLease"
LEASE_STATUS_UNKNOWN = "LeaseStatusUnknown"
PREPARE_CHUNKS = "PrepareChunks"
PROCESS = "Process"
MORE_CHUNKS = "MoreChunks"
RENEW = "Renew"
RELEASE = "Release"
COMPLETE = "Complete"
RELEASE_AFTER_FAILURE = "ReleaseAfterFailure"
WAIT_FOR_PROCESS_TO_STOP = "WaitForProcessToStop"
FAILED = "Failed"

HOLDER = {"holder.$": "$$.Execution.Id"}
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
# Lease tasks are idempotent, so they also retry a Lambda that died without an answer (Lambda.Unknown:
# a crash or an out-of-memory after its write); the workload's Process does not.
TRANSIENT_ERRORS = ["LeaseStoreUnavailable", *LAMBDA_SERVICE_ERRORS, "Lambda.Unknown"]
NEVER_RETRIED_ERRORS = ["InvalidLeaseRequest", "LeaseLost"]


@dataclass(frozen=True)
class LeaseFunctions:
    """The Lambda ARNs one workflow invokes."""

    acquire: str
    release: str
    renew: str
    process: str


TASK_MAX_ATTEMPTS = 6  # at most 51 s of backoff
# A release comes after the work is done: failing it would fail a finished execution and keep its
# slot (and, in handoff mode, the queue) waiting for reclaim, so it rides out a longer outage.
RELEASE_MAX_ATTEMPTS = 10  # at most 131 s of backoff


def retry_policy(
    transient_errors: list[str] = TRANSIENT_ERRORS, max_attempts: int = TASK_MAX_ATTEMPTS
) -> list[dict[str, Any]]:
    """Never retry a bad request or a lost lease; retry transient errors with jittered exponential backoff."""
    return [
        {"ErrorEquals": list(NEVER_RETRIED_ERRORS), "MaxAttempts": 0},
        {
            "ErrorEquals": list(transient_errors),
            "IntervalSeconds": 1,
            "BackoffRate": 2.0,
            "MaxAttempts": max_attempts,
            "MaxDelaySeconds": 20,
            "JitterStrategy": "FULL",
        },
    ]


def catch_into_failure_path() -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": RELEASE_AFTER_FAILURE}]


def lambda_task(
    partition: str,
    function_arn: str,
    payload: dict[str, Any],
    *,
    result_selector: dict[str, Any],
    result_path: str,
    next_state: str,
    comment: str,
    timeout_seconds: int | None = None,
    caught: bool = True,
    transient_errors: list[str] = TRANSIENT_ERRORS,
    max_attempts: int = TASK_MAX_ATTEMPTS,
) -> dict[str, Any]:
    """A Lambda Task through the optimised integration, with our retry policy and failure path."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Comment": comment,
        "Resource": f"arn:{partition}:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, "Payload": payload},
        "ResultSelector": result_selector,
        "ResultPath": result_path,
        "Retry": retry_policy(transient_errors, max_attempts),
        "Next": next_state,
    }
    if timeout_seconds is not None:
        state["TimeoutSeconds"] = timeout_seconds
    if caught:
        state["Catch"] = catch_into_failure_path()
    return state


class LeaseStates:
    """The reusable fragments of a lease-guarded workflow for one set of functions."""

    def __init__(
        self,
        functions: LeaseFunctions,
        *,
        partition: str = "aws",
        wait_seconds: int = 5,
        wait_mode: str = "poll",
        recheck_seconds: int = 300,
    ) -> None:
        """``wait_mode`` poll: Wait ``wait_seconds`` and ask again; handoff: queue and be handed a slot,
        re-checking by itself every ``recheck_seconds`` in case a wakeup was lost."""
        if wait_mode not in ("poll", "handoff"):
            raise ValueError(f"wait_mode must be poll or handoff, got {wait_mode!r}")
        self.functions = functions
        self.partition = partition
        self.wait_seconds = wait_seconds
        self.wait_mode = wait_mode
        self.recheck_seconds = recheck_seconds

    @property
    def polls(self) -> bool:
        return self.wait_mode == "poll"

    def acquire(self) -> dict[str, Any]:
        if not self.polls:
            return self._acquire_in_line()
        return lambda_task(
            self.partition,
            self.functions.acquire,
            HOLDER,
            result_selector={"status.$": "$.Payload.status", "detail.$": "$.Payload"},
            result_path="$.lease",
            next_state=CHECK_LEASE,
            comment="Ask for a slot as this execution ($$.Execution.Id); idempotent, so retries are safe.",
        )

    def _acquire_in_line(self) -> dict[str, Any]:
        """Handoff mode: the task waits for a callback (the slot), queueing if none is free."""
        state = lambda_task(
            self.partition,
            self.functions.acquire,
            {**HOLDER, "task_token.$": "$$.Task.Token"},
            result_selector={"status.$": "$.status", "detail.$": "$"},
            result_path="$.lease",
            next_state=CHECK_LEASE,
            comment="Take a free slot, or queue and be handed one by a release; no polling.",
        )
        state["Resource"] = f"arn:{self.partition}:states:::lambda:invoke.waitForTaskToken"
        state["TimeoutSeconds"] = self.recheck_seconds
        # A wait this long without a callback re-checks by itself (keeping its place in line).
        state["Catch"].insert(0, {"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": ACQUIRE})
        return state

    def check_lease(self, on_acquired: str) -> dict[str, Any]:
        choices = [{"Variable": "$.lease.status", "StringEquals": "acquired", "Next": on_acquired}]
        if self.polls:
            choices.append({"Variable": "$.lease.status", "StringEquals": "wait", "Next": WAIT_FOR_LEASE})
        return {
            "Type": "Choice",
            "Comment": "Only an explicit 'acquired' leads to the work; anything unexpected fails closed.",
            "Choices": choices,
            "Default": LEASE_STATUS_UNKNOWN,
        }

    def wait_for_lease(self) -> dict[str, Any]:
        return {
            "Type": "Wait",
            "Comment": "Every slot is taken: wait, then ask again.",
            "Seconds": self.wait_seconds,
            "Next": ACQUIRE,
        }

    def lease_status_unknown(self) -> dict[str, Any]:
        return {
            "Type": "Pass",
            "Comment": "Acquire answered neither 'acquired' nor 'wait': treat it as an error.",
            "Result": {"Error": "UnexpectedLeaseStatus", "Cause": "acquire answered neither 'acquired' nor 'wait'"},
            "ResultPath": "$.error",
            "Next": RELEASE_AFTER_FAILURE,
        }

    def prepare_chunks(self) -> dict[str, Any]:
        return {
            "Type": "Pass",
            "Comment": "Chunked work starts at cursor 0.",
            "Result": {"cursor": 0, "done": False},
            "ResultPath": "$.progress",
            "Next": ACQUIRE,
        }

    def process(self, payload: dict[str, Any], *, timeout_seconds: int, chunked: bool) -> dict[str, Any]:
        selector = (
            {"cursor.$": "$.Payload.cursor", "done.$": "$.Payload.done"} if chunked else {"output.$": "$.Payload"}
        )
        return lambda_task(
            self.partition,
            self.functions.process,
            payload,
            result_selector=selector,
            result_path="$.progress" if chunked else "$.result",
            next_state=MORE_CHUNKS if chunked else RELEASE,
            comment="The work the lease guards; its own errors are final, Lambda service errors are retried.",
            timeout_seconds=timeout_seconds,
            transient_errors=LAMBDA_SERVICE_ERRORS,
        )

    def more_chunks(self) -> dict[str, Any]:
        return {
            "Type": "Choice",
            "Comment": "Renew the lease before each further chunk.",
            "Choices": [{"Variable": "$.progress.done", "BooleanEquals": True, "Next": RELEASE}],
            "Default": RENEW,
        }

    def renew(self) -> dict[str, Any]:
        return lambda_task(
            self.partition,
            self.functions.renew,
            HOLDER,
            result_selector={"status.$": "$.Payload.status", "expires_at.$": "$.Payload.expires_at"},
            result_path="$.renewal",
            next_state=PROCESS,
            comment="Push the lease's expiry out; LeaseLost ends the work.",
        )

    def release(self) -> dict[str, Any]:
        state = lambda_task(
            self.partition,
            self.functions.release,
            HOLDER,
            result_selector={"status.$": "$.Payload.status"},
            result_path="$.released",
            next_state=COMPLETE,
            comment="Give the slot back.",
            caught=False,
            max_attempts=RELEASE_MAX_ATTEMPTS,
        )
        # The work is done; a release that still fails after retries fails the execution, and the
        # platform app reclaims the slot from its failure event.
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILED}]
        return state

    def release_after_failure(self) -> dict[str, Any]:
        state = lambda_task(
            self.partition,
            self.functions.release,
            HOLDER,
            result_selector={"status.$": "$.Payload.status"},
            result_path="$.releasedAfterFailure",
            next_state=FAILED,
            comment="Failure path: give back any slot this execution may hold, keeping the original error.",
            caught=False,
            max_attempts=RELEASE_MAX_ATTEMPTS,
        )
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.releaseError", "Next": FAILED}]
        return state

    @staticmethod
    def complete() -> dict[str, Any]:
        return {"Type": "Succeed"}

    @staticmethod
    def failed() -> dict[str, Any]:
        return {
            "Type": "Fail",
            "Comment": "Reports the original error.",
            "ErrorPath": "$.error.Error",
            "CausePath": "$.error.Cause",
        }


def wait_for_process_to_stop(seconds: int) -> dict[str, Any]:
    return {
        "Type": "Wait",
        "Comment": "Process timed out in Step Functions but may still be running: keep the lease until it cannot.",
        "Seconds": seconds,
        "Next": RELEASE_AFTER_FAILURE,
    }


def lease_guarded_definition(
    states: LeaseStates,
    process_state: dict[str, Any],
    *,
    comment: str,
    chunked: bool = False,
    drain_seconds: int | None = None,
) -> dict[str, Any]:
    """A whole definition around ``process_state`` (its Next and Catch are set here).

    ``drain_seconds`` is how long the work can go on after Step Functions gave up on it with
    ``States.Timeout`` (a Lambda runs to its own timeout, an ECS task until stopped): the lease is
    then kept that long before the failure path releases it, so the work never runs without it.
    """
    process_state = copy.deepcopy(process_state)
    process_state["Next"] = MORE_CHUNKS if chunked else RELEASE
    process_state["Catch"] = catch_into_failure_path()
    if drain_seconds is not None:
        process_state["Catch"].insert(
            0, {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": WAIT_FOR_PROCESS_TO_STOP}
        )
    body: dict[str, Any] = {}
    if chunked:
        body[PREPARE_CHUNKS] = states.prepare_chunks()
    body.update(
        {
            ACQUIRE: states.acquire(),
            CHECK_LEASE: states.check_lease(PROCESS),
            LEASE_STATUS_UNKNOWN: states.lease_status_unknown(),
            PROCESS: process_state,
        }
    )
    if states.polls:
        body[WAIT_FOR_LEASE] = states.wait_for_lease()
    if chunked:
        body[MORE_CHUNKS] = states.more_chunks()
        body[RENEW] = states.renew()
    body.update(
        {
            RELEASE: states.release(),
            COMPLETE: states.complete(),
            RELEASE_AFTER_FAILURE: states.release_after_failure(),
            FAILED: states.failed(),
        }
    )
    if drain_seconds is not None:
        body[WAIT_FOR_PROCESS_TO_STOP] = wait_for_process_to_stop(drain_seconds)
    definition = {"Comment": comment, "StartAt": PREPARE_CHUNKS if chunked else ACQUIRE, "States": body}
    assert_process_needs_a_lease(definition)
    return definition
