"""Render lease-guarded Step Functions definitions from reusable state fragments.

Every workflow has the same skeleton around its own Process state::

    Acquire → CheckLease ─acquired→ Process → Release → Complete
                 │ wait                  (chunked: Process → MoreChunks → Renew → Process)
                 ↓
            WaitForLease ↺ Acquire      (a longer Wait the longer it has waited: WAIT_LADDER)

and one failure path: any error from Acquire onwards is caught into ``$.error``,
goes through ``ReleaseAfterFailure`` (release is idempotent, so it is safe even
when no lease was granted) and ends in ``Failed``, which reports the original
error. ``LeaseStoreUnavailable`` and Lambda service errors are retried with
backoff and full jitter; ``InvalidLeaseRequest`` and ``LeaseLost`` never are.

``lease_fragments`` are the lease states alone (``python -m lease_ops fragments`` prints them for a team's
own state machine, with ``fragment_contract``); ``lease_guarded_definition`` assembles our workflows from
them around any Process state, so a team can also wrap its own task (an ECS run, a Glue job) in the same
lease. The result is checked by ``workflow_graph.assert_process_needs_a_lease`` before it is returned.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from lease_ops.definitions.workflow_graph import assert_process_needs_a_lease

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

# The holder is the execution's run: its ARN and its redrive count (see lease_core.execution_arns). A
# redriven execution keeps its ARN, so without the run it would inherit the stopped run's lease.
# https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html (RedriveCount)
HOLDER_ID = "States.Format('{}#{}', $$.Execution.Id, $$.Execution.RedriveCount)"
HOLDER = {"holder.$": HOLDER_ID}
# Process gets the same id, to check before its work that its run holds a lease (lease_core.process_guard).
PROCESS_LEASE_HOLDER = {"lease_holder.$": HOLDER_ID}
# Errors of the Invoke call that do not mean the Lambda stopped: a synchronous invocation runs on after its
# caller gave up (https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html#connect-lambda-api,
# https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html). Lambda.Unknown is
# also a crash after the function's own writes.
INVOKE_OUTCOME_UNKNOWN_ERRORS = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.SdkClientException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.Unknown",
]
# Lambda refused the invocation: the function never started.
INVOKE_REFUSED_ERRORS = ["Lambda.TooManyRequestsException"]
LAMBDA_SERVICE_ERRORS = [*INVOKE_OUTCOME_UNKNOWN_ERRORS, *INVOKE_REFUSED_ERRORS]
# Lease tasks are idempotent, so they retry every Lambda error, a function still running included; the
# workload's Process retries only what proves it never started work (see PROCESS_RETRIED_ERRORS).
TRANSIENT_ERRORS = ["LeaseStoreUnavailable", *LAMBDA_SERVICE_ERRORS]
NEVER_RETRIED_ERRORS = ["InvalidLeaseRequest", "LeaseLost"]
# Process is tried again only when it cannot have done any work: Lambda refused it, or its lease check
# (before the work) could not read the table. Anything that may still be running is never retried.
PROCESS_RETRIED_ERRORS = [*INVOKE_REFUSED_ERRORS, "LeaseStoreUnavailable"]
# What Process's Catch sends to WaitForProcessToStop: the work may still be running.
PROCESS_MAY_STILL_RUN_ERRORS = ["States.Timeout", *INVOKE_OUTCOME_UNKNOWN_ERRORS]


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


@dataclass(frozen=True)
class WaitRung:
    """Once an execution has waited ``after_seconds`` for a slot, it waits ``seconds`` or up to half as long
    again between polls (drawn at each poll: see ``NEXT_POLL``)."""

    state: str
    after_seconds: int
    seconds: int

    @property
    def field(self) -> str:
        """Where the Acquire task's ResultSelector puts this rung's drawn wait, under ``$.lease.next_poll``."""
        return f"after_{self.after_seconds}"


def jittered(seconds: int) -> tuple[int, int]:
    """``States.MathRandom``'s start and end for a wait of ``seconds`` to half as long again (rungs: 30 s or more)."""
    return seconds, seconds + seconds // 2


WAIT_LADDER = (
    WaitRung("WaitForLeaseAfter5Minutes", after_seconds=300, seconds=30),
    WaitRung("WaitForLeaseAfter30Minutes", after_seconds=1_800, seconds=120),
    WaitRung("WaitForLeaseAfter4Hours", after_seconds=14_400, seconds=600),
)
"""Poll mode's back-off: the longer an execution has waited for a slot, the longer it waits between polls.

A Standard execution has at most 25,000 history events
(https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html) and one poll round
(Acquire, CheckLease, a Wait) writes up to 10 of them (``lease_ops.definitions.history_quota``): polling every
5 s, a waiting execution would fail after less than 4 hours, outside its failure path. So the acquire
answer says how long the execution has waited (``waited``: seconds since ``$$.Execution.StartTime``,
passed as ``waiting_since``), and CheckLease sends a wait answer to ``WaitForLease`` (``wait_seconds``)
for the first 5 minutes, exactly as before, then to the Wait of the highest rung reached, which waits
``max(seconds, wait_seconds)``. An answer without ``waited`` (a definition that does not pass
``waiting_since``) always goes to ``WaitForLease``.

The bound, computed from the rendered definitions by ``lease_ops.definitions.history_quota`` and checked by
tests/unit/test_history_quota.py for every ``wait_seconds`` platform.toml allows (1-3600):

- at most ``g + g // 2`` seconds between two polls, with ``g = max(600, wait_seconds)`` (900 s once it has
  waited 4 hours: each rung's wait is drawn from its seconds to half as long again, ``NEXT_POLL``);
- a 7-day wait takes at most 1,439 polls and 14,390 events (``wait_seconds`` 1; 1,199 polls at 5 s,
  1,169 at 10 s); with the rest of the run (batch: 5,000 items, the most its process takes, in
  chunks of 25, renewed between chunks; both releases using all their retries) the execution writes
  at most 17,244 events today, and the test requires at most 20,000: room for 1,250 more retries;
- an execution can wait 12.3 days before the quota would end it in the worst case (``wait_seconds``
  1, a 5,000-item batch), 15.9 days for analytics and 14.2 days for batch as configured.
"""
POLL_WAIT_STATES = (WAIT_FOR_LEASE, *(rung.state for rung in WAIT_LADDER))
NEXT_POLL = "next_poll"
"""Each rung waits a time drawn at every poll (``States.MathRandom`` in the Acquire task's ResultSelector),
from its ``seconds`` to half as long again, never less.

Why: executions of a burst arrive within a minute and reach each rung together. With fixed waits they
keep that phase: at the 120 s rung every poll of thousands of executions fell within the same minute of
each two, and a slot freed in the other minute stood idle until the next crowd of polls. `make burst` at
full size (10,000 executions on cap 100) measured poll mode far below its 95% throughput target with fixed
waits (docs/benchmarks.md links the generated results). A drawn wait spreads the polls over the whole
interval within a few rounds. The shortest wait is unchanged, so the history-quota bound of ``WAIT_LADDER``
(which counts the shortest) still holds.
"""
# The execution's start, ISO 8601, in the context object of every execution:
# https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html
WAITING_SINCE = {"waiting_since.$": "$$.Execution.StartTime"}


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
            {**HOLDER, **WAITING_SINCE},
            result_selector={"status.$": "$.Payload.status", "detail.$": "$.Payload", NEXT_POLL: self.next_poll()},
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
            # Longest wait first: the first rule that holds wins. No ``waited`` (a definition that does not
            # pass waiting_since): IsPresent is false and the plain 'wait' rule sends it to WaitForLease.
            # https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html (IsPresent guards a
            # comparison on a field that may be missing; without it the execution would fail.)
            choices += [
                {
                    "And": [
                        {"Variable": "$.lease.status", "StringEquals": "wait"},
                        {"Variable": "$.lease.detail.waited", "IsPresent": True},
                        {"Variable": "$.lease.detail.waited", "NumericGreaterThanEquals": rung.after_seconds},
                    ],
                    "Next": rung.state,
                }
                for rung in reversed(WAIT_LADDER)
            ]
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

    def rung_seconds(self, rung: WaitRung) -> int:
        """The shortest wait of ``rung``: never shorter than ``wait_seconds``."""
        return max(rung.seconds, self.wait_seconds)

    def next_poll(self) -> dict[str, str]:
        """The ResultSelector fields that draw each rung's wait (see ``NEXT_POLL``)."""
        return {
            f"{rung.field}.$": "States.MathRandom({}, {})".format(*jittered(self.rung_seconds(rung)))
            for rung in WAIT_LADDER
        }

    def longer_waits(self) -> dict[str, dict[str, Any]]:
        """The Wait of each rung of ``WAIT_LADDER``, for the time the last Acquire drew for it."""
        return {
            rung.state: {
                "Type": "Wait",
                "Comment": f"Waited {rung.after_seconds} s or more: ask less often, to stay in the history quota.",
                "SecondsPath": f"$.lease.{NEXT_POLL}.{rung.field}",
                "Next": ACQUIRE,
            }
            for rung in WAIT_LADDER
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
            {**payload, **PROCESS_LEASE_HOLDER},
            result_selector=selector,
            result_path="$.progress" if chunked else "$.result",
            next_state=MORE_CHUNKS if chunked else RELEASE,
            comment="The work the lease guards; it checks first that this run holds the lease. Retried only "
            "when it cannot have started work.",
            timeout_seconds=timeout_seconds,
            transient_errors=PROCESS_RETRIED_ERRORS,
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

    def release(self, next_state: str = COMPLETE) -> dict[str, Any]:
        state = lambda_task(
            self.partition,
            self.functions.release,
            HOLDER,
            result_selector={"status.$": "$.Payload.status"},
            result_path="$.released",
            next_state=next_state,
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
        "Comment": "Process timed out, or its invoke failed without saying whether it stopped: it may still be "
        "running, so keep the lease until it cannot.",
        "Seconds": seconds,
        "Next": RELEASE_AFTER_FAILURE,
    }


LEASE_ANSWER_PATH = "$.lease"
"""Where Acquire puts its answer: ``{"status": "acquired" | "wait", "detail": <the acquire Lambda's answer>}``."""
# Every path of the execution's input the fragments write; a user's input must be a JSON object without them.
FRAGMENT_RESULT_PATHS = (LEASE_ANSWER_PATH, "$.released", "$.releasedAfterFailure", "$.error", "$.releaseError")


def work_catch(*, drains: bool) -> list[dict[str, Any]]:
    """The Catch of the guarded work: an error that may leave it running first waits in WaitForProcessToStop
    (when ``drains``), and every error goes through ReleaseAfterFailure with the original error in ``$.error``."""
    may_still_run = {
        "ErrorEquals": list(PROCESS_MAY_STILL_RUN_ERRORS),
        "ResultPath": "$.error",
        "Next": WAIT_FOR_PROCESS_TO_STOP,
    }
    return [*([may_still_run] if drains else []), *catch_into_failure_path()]


def lease_fragments(
    states: LeaseStates, *, work: str = PROCESS, after_release: str = COMPLETE, drain_seconds: int | None = None
) -> dict[str, dict[str, Any]]:
    """The lease states to splice around a piece of work, by name, in the order a reader follows them.

    The contract (``fragment_contract``): enter at ``Acquire``; ``CheckLease`` sends an acquired answer
    to ``work``, a state the caller adds; the work's last state goes on to ``Release``, which goes on to
    ``after_release`` (``Complete``, a Succeed included here, unless the caller names its own state); the
    work's Catch is ``work_catch``: through ``WaitForProcessToStop`` (``drain_seconds``, when given) to
    ``ReleaseAfterFailure``, which ends in ``Failed``. Our own workflows are these states around
    ``Process`` (``lease_guarded_definition``): what a team splices into its state machine is what we run.
    """
    fragments = {
        ACQUIRE: states.acquire(),
        CHECK_LEASE: states.check_lease(work),
        LEASE_STATUS_UNKNOWN: states.lease_status_unknown(),
    }
    if states.polls:
        fragments[WAIT_FOR_LEASE] = states.wait_for_lease()
        fragments.update(states.longer_waits())
    fragments[RELEASE] = states.release(after_release)
    if after_release == COMPLETE:
        fragments[COMPLETE] = states.complete()
    fragments[RELEASE_AFTER_FAILURE] = states.release_after_failure()
    fragments[FAILED] = states.failed()
    if drain_seconds is not None:
        fragments[WAIT_FOR_PROCESS_TO_STOP] = wait_for_process_to_stop(drain_seconds)
    return fragments


def fragment_contract(
    states: LeaseStates, *, work: str = PROCESS, after_release: str = COMPLETE, drain_seconds: int | None = None
) -> dict[str, Any]:
    """How a definition splices in ``lease_fragments``, as data a team's CDK or Terraform code can read."""
    return {
        "EnterAt": ACQUIRE,
        "Work": work,
        "WorkEnteredBy": f"{CHECK_LEASE}.Choices[0].Next",
        "WorkNext": RELEASE,
        "WorkCatch": work_catch(drains=drain_seconds is not None),
        "LeaseAnswer": LEASE_ANSWER_PATH,
        "WrittenPaths": list(FRAGMENT_RESULT_PATHS),
        "Holder": HOLDER_ID,
        "AfterRelease": after_release,
        "FailsAt": FAILED,
        "Functions": {"acquire": states.functions.acquire, "release": states.functions.release},
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
    ``States.Timeout`` or an invoke error that does not mean it stopped (a Lambda runs to its own
    timeout, an ECS task until stopped): the lease is then kept that long before the failure path
    releases it, so the work never runs without it.

    ``LeaseLost`` from Process (its check found no live lease of its run: a redrive that restarted in
    Process, a lease that would expire before the invocation's own timeout) goes back to Acquire: no work
    was done, and the run waits for a slot like a new one.
    """
    process_state = copy.deepcopy(process_state)
    process_state["Next"] = MORE_CHUNKS if chunked else RELEASE
    process_state["Catch"] = [
        {"ErrorEquals": ["LeaseLost"], "ResultPath": None, "Next": ACQUIRE},
        *work_catch(drains=drain_seconds is not None),
    ]
    lease = lease_fragments(states, work=PROCESS, drain_seconds=drain_seconds)
    body: dict[str, Any] = {}
    if chunked:
        body[PREPARE_CHUNKS] = states.prepare_chunks()
    for name in (ACQUIRE, CHECK_LEASE, LEASE_STATUS_UNKNOWN):
        body[name] = lease.pop(name)
    body[PROCESS] = process_state
    for name in POLL_WAIT_STATES:
        if name in lease:
            body[name] = lease.pop(name)
    if chunked:
        body[MORE_CHUNKS] = states.more_chunks()
        body[RENEW] = states.renew()
    body.update(lease)  # Release, Complete, ReleaseAfterFailure, Failed, WaitForProcessToStop
    definition = {"Comment": comment, "StartAt": PREPARE_CHUNKS if chunked else ACQUIRE, "States": body}
    assert_process_needs_a_lease(definition)
    return definition
