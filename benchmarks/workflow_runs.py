"""Whole workflows through the local runner, per design: what waiting costs in Step Functions.

This project's workflow is its own rendered definition, dispatched to the analytics
app's handlers. The baselines are their published workflows with each DynamoDB
task as a Lambda task doing the same request (the local runner runs Lambda
tasks): count-then-put (Count → Choice → Wait 5 s ↺, Put, Process, Delete) and
the AWS sample (Acquire Lock with its 6 retries of a failed condition, Get
Current Lock Record, Check, Wait 3 s ↺, Process, Release Lock). The sample's two
Parallel wrappers and four placeholder Pass states are left out, which only
lowers its transition count.

Measured per execution: state transitions, Lambda invocations (retries included),
polls; and over the run, how long slots stood idle while executions waited, and
how many admissions overtook an execution that had waited longer.
"""

from __future__ import annotations

import dataclasses
import json
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from benchmarks.baselines.count_then_put import CountThenPut
from benchmarks.baselines.counter_owner import CounterOwner
from benchmarks.designs import create_design_table
from benchmarks.environment import BenchEnvironment
from lease_core import LeaseSemaphore
from lease_ops.config.chalice_apps import REPOSITORY_ROOT
from lease_ops.config.platform_config import load_platform_config
from lease_ops.definitions.workflow_builder import POLL_WAIT_STATES, LeaseFunctions
from lease_ops.local_runner import (
    ChaliceLambdaDispatcher,
    ExecutionResult,
    Invocation,
    LocalRunner,
    ScaledTimer,
    TaskContext,
)
from lease_ops.local_runner.task_tokens import TASK_TOKENS
from lease_ops.provisioning.workflows import render_definition
from lease_ops.sandbox.process_steps import ProcessObserver

ACCOUNT_ARN = "arn:aws:lambda:eu-central-1:123456789012:function:"
MACHINE_ARN = "arn:aws:states:eu-central-1:123456789012:stateMachine:"
PREFIX = "bench"
OURS = "lease-core"
OURS_HANDOFF = "lease-core-handoff"


class ConditionalCheckFailed(Exception):
    """A baseline's conditional write failed (the sample's DynamoDB.ConditionalCheckFailedException)."""


class LockItemMissing(Exception):
    """The sample's lock item does not exist yet (its DynamoDB.AmazonDynamoDBException)."""


class FunctionTable:
    """A task invoker for plain Python functions, by function name, JSON in and out."""

    def __init__(self, functions: dict[str, Callable[[dict[str, Any]], Any]], process: Callable[..., Any]) -> None:
        self.functions = functions
        self.process = process

    def invoke(self, function: str, payload: Any, context: TaskContext) -> Any:
        from lease_ops.local_runner import StatesError

        name = function.rsplit(":", 1)[-1]
        try:
            if name.endswith("-process"):
                return json.loads(json.dumps(self.process(payload, context)))
            return json.loads(json.dumps(self.functions[name](json.loads(json.dumps(payload)))))
        except (ConditionalCheckFailed, LockItemMissing) as exc:
            raise StatesError(type(exc).__name__, str(exc)) from exc


def _task(function: str, payload: dict[str, Any], next_state: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": ACCOUNT_ARN + function, "Payload": payload},
        "ResultSelector": {"answer.$": "$.Payload"},
        "ResultPath": extra.pop("ResultPath", "$.answer"),
        "Next": next_state,
        **extra,
    }


HOLDER = {"holder.$": "$$.Execution.Id"}
PROCESS = {"records.$": "$.records"}


def count_then_put_definition(cap: int) -> dict[str, Any]:
    return {
        "StartAt": "CountLeases",
        "States": {
            "CountLeases": _task("ctp-count", {}, "CheckCapacity"),
            "CheckCapacity": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.answer.answer", "NumericLessThan": cap, "Next": "PutLease"}],
                "Default": "WaitForSlot",
            },
            "WaitForSlot": {"Type": "Wait", "Seconds": 5, "Next": "CountLeases"},
            "PutLease": _task("ctp-put", HOLDER, "Process"),
            "Process": _task("bench-process", PROCESS, "DeleteLease", ResultPath=None),
            "DeleteLease": _task("ctp-delete", HOLDER, "Done"),
            "Done": {"Type": "Succeed"},
        },
    }


def counter_owner_definition() -> dict[str, Any]:
    return {
        "StartAt": "AcquireLock",
        "States": {
            "AcquireLock": _task(
                "co-acquire",
                HOLDER,
                "Process",
                Retry=[
                    {"ErrorEquals": ["LockItemMissing"], "MaxAttempts": 0},
                    {"ErrorEquals": ["States.ALL"], "MaxAttempts": 6, "BackoffRate": 2},
                ],
                Catch=[
                    {"ErrorEquals": ["LockItemMissing"], "Next": "InitializeLockItem", "ResultPath": "$.error"},
                    {
                        "ErrorEquals": ["ConditionalCheckFailed"],
                        "Next": "GetCurrentLockRecord",
                        "ResultPath": "$.error",
                    },
                ],
            ),
            "InitializeLockItem": _task(
                "co-initialize",
                {},
                "AcquireLock",
                ResultPath=None,
                Catch=[{"ErrorEquals": ["States.ALL"], "Next": "AcquireLock", "ResultPath": None}],
            ),
            "GetCurrentLockRecord": _task("co-held", HOLDER, "CheckIfLockAlreadyAcquired", ResultPath="$.lockinfo"),
            "CheckIfLockAlreadyAcquired": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.lockinfo.answer", "BooleanEquals": True, "Next": "Process"}],
                "Default": "WaitToGetLock",
            },
            "WaitToGetLock": {"Type": "Wait", "Seconds": 3, "Next": "AcquireLock"},
            "Process": _task("bench-process", PROCESS, "ReleaseLock", ResultPath=None),
            "ReleaseLock": _task("co-release", HOLDER, "Success", ResultPath=None),
            "Success": {"Type": "Succeed"},
        },
    }


def _count_then_put_functions(design: CountThenPut) -> dict[str, Callable[[dict[str, Any]], Any]]:
    return {
        "ctp-count": lambda event: design.active(),
        "ctp-put": lambda event: (
            design.client.put_item(
                TableName=design.table,
                Item={"pk": {"S": design.prefix}, "sk": {"S": event["holder"]}, "expires_at": {"N": "9999999999"}},
            )
            and None
        ),
        "ctp-delete": lambda event: design.release(event["holder"]),
    }


def _counter_owner_functions(design: CounterOwner) -> dict[str, Callable[[dict[str, Any]], Any]]:
    def acquire(event: dict[str, Any]) -> None:
        try:
            design._update(event["holder"])
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ConditionalCheckFailedException":
                raise ConditionalCheckFailed(code) from exc
            if code == "ValidationException":
                raise LockItemMissing(code) from exc
            raise

    def held(event: dict[str, Any]) -> bool:
        item = design.client.get_item(
            TableName=design.table,
            Key={"LockName": {"S": design.lock_name}},
            ProjectionExpression="#o",
            ExpressionAttributeNames={"#o": event["holder"]},
        ).get("Item", {})
        return event["holder"] in item

    return {
        "co-acquire": acquire,
        "co-initialize": lambda event: design._initialize(),
        "co-held": held,
        "co-release": lambda event: design.release(event["holder"]),
    }


class QueueClock:
    """Records when each handoff execution was queued, on the runner's clock, from its acquire's answer."""

    def __init__(self, timer: ScaledTimer) -> None:
        self.timer = timer
        # One fixed mapping from the wall clock onto the runner's: the same queue millisecond (a tie:
        # the queue orders it by holder digest) maps to the same instant.
        self._offset = timer.now() - time.time() * timer.scale
        self.at: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, invocation: Invocation, payload: Any, call: Callable[[Any], Any]) -> Any:
        answer = call(payload)
        if invocation.name == "acquire" and isinstance(answer, dict) and answer.get("status") == "queued":
            # The answer says when the queue took it (epoch s, to the millisecond): on the runner's clock.
            queued = float(answer["queued_at"]) * self.timer.scale + self._offset
            with self._lock:
                self.at.setdefault(payload["holder"], queued)
        return answer


@dataclass
class WorkflowResult:
    design: str
    executions: int
    cap: int
    transitions_per_execution: float
    lambda_invocations_per_execution: float
    polls_per_execution: float
    idle_slot_seconds_while_waiting: float
    # Once the cap was first reached: slot-seconds idle while someone waited, per admission (a hand-over's gap).
    idle_seconds_per_admission_after_ramp: float
    overtaking_admissions: int
    p50_wait_seconds: float
    failed: int
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {key: (round(value, 2) if isinstance(value, float) else value) for key, value in self.__dict__.items()}


def _admitted_at(result: ExecutionResult, work_state: str) -> float | None:
    entered = result.entered(work_state)
    return entered[0].time if entered else None


def _released_at(result: ExecutionResult, release_state: str) -> float | None:
    exits = [e.time for e in result.history if e.type == "StateExited" and e.state == release_state]
    return exits[-1] if exits else result.history[-1].time


def measure(
    design: str,
    results: list[ExecutionResult],
    cap: int,
    *,
    work_state: str,
    release_state: str,
    wait_states: set[str],
    queued_at: dict[str, float] | None = None,
) -> WorkflowResult:
    """Transitions, invocations, polls, idle slot time while waiting, and overtaking, from the histories.

    An execution waits from the moment it first learns there is no slot: entering a wait state
    (polling designs) or being queued (handoff: ``queued_at``, the time its acquire queued it).
    An admission overtakes when it goes to an execution that started waiting (or, never having
    waited, started at all) after another one that still waits: jumping the line.
    """
    starts = {r.arn: r.history[0].time for r in results}
    admitted = {r.arn: _admitted_at(r, work_state) for r in results}
    released = {r.arn: _released_at(r, release_state) for r in results}
    events: list[tuple[float, int, int]] = []  # (time, change in holding, change in waiting)
    for arn in starts:
        if admitted[arn] is None:
            continue
        events += [(starts[arn], 0, +1), (admitted[arn], +1, -1), (released[arn], -1, 0)]
    events.sort()
    idle = idle_after_ramp = 0.0
    holding = waiting = 0
    ramped = False  # the cap was reached once: from then on every idle slot is a hand-over's gap
    admissions_after_ramp = 0
    previous = events[0][0] if events else 0.0
    for moment, hold_change, wait_change in events:
        if waiting > 0:
            idle += max(0, cap - holding) * (moment - previous)
            if ramped:
                idle_after_ramp += max(0, cap - holding) * (moment - previous)
        holding += hold_change
        waiting += wait_change
        if ramped and hold_change > 0:
            admissions_after_ramp += 1
        ramped = ramped or holding >= cap
        previous = moment
    if queued_at is None:
        queued_at = {
            r.arn: next(e.time for e in r.history if e.type == "StateEntered" and e.state in wait_states)
            for r in results
            if any(e.type == "StateEntered" and e.state in wait_states for e in r.history)
        }
    # An execution admitted without waiting arrived when it started (its acquire is its first state).
    overtaking = 0
    for r in results:
        mine = admitted[r.arn]
        if mine is None:
            continue
        arrived = queued_at.get(r.arn, starts[r.arn])
        if any(
            o != r.arn and since < arrived and (admitted[o] or float("inf")) > mine for o, since in queued_at.items()
        ):
            overtaking += 1
    waits = [admitted[a] - starts[a] for a in starts if admitted[a] is not None]
    return WorkflowResult(
        design=design,
        executions=len(results),
        cap=cap,
        transitions_per_execution=statistics.mean(
            len([e for e in r.history if e.type == "StateEntered"]) for r in results
        ),
        lambda_invocations_per_execution=statistics.mean(
            len([e for e in r.history if e.type == "TaskScheduled"]) for r in results
        ),
        polls_per_execution=statistics.mean(
            len([e for e in r.history if e.type == "StateEntered" and e.state in wait_states]) for r in results
        ),
        idle_slot_seconds_while_waiting=idle,
        idle_seconds_per_admission_after_ramp=idle_after_ramp / max(admissions_after_ramp, 1),
        overtaking_admissions=overtaking,
        p50_wait_seconds=statistics.median(waits) if waits else 0.0,
        failed=sum(r.status != "SUCCEEDED" for r in results),
    )


def _records(rng: random.Random) -> dict[str, Any]:
    return {"records": [{"key": rng.choice(["eu", "us"]), "value": rng.randint(1, 100)} for _ in range(5)]}


def run_workflows(
    env: BenchEnvironment, design: str, *, executions: int, cap: int, time_scale: float, seed: int = 1
) -> WorkflowResult:
    """Start ``executions`` executions at once and measure them to the end."""
    rng = random.Random(seed)
    timer = ScaledTimer(time_scale)
    table = f"wf-{design}-{uuid.uuid4().hex[:8]}"
    client = env.client(f"{table}:workflow")
    create_design_table(design, client, table)
    observer = ProcessObserver(timer, {PREFIX: (10.0, 20.0), "analytics": (10.0, 20.0)}, set(), seed=seed)
    machine = MACHINE_ARN + f"bench-{design}"
    queued = QueueClock(timer)
    if design in (OURS, OURS_HANDOFF):
        LeaseSemaphore(client, table, PREFIX).set_cap(cap)
        config = load_platform_config()
        wait_mode = "handoff" if design == OURS_HANDOFF else "poll"
        workload = dataclasses.replace(config.workload("analytics"), wait_mode=wait_mode)
        app_name = workload.chalice_config()["app_name"]
        functions = LeaseFunctions(
            *(f"{ACCOUNT_ARN}{app_name}-{config.stage}-{f}" for f in ("acquire", "release", "renew", "process"))
        )
        definition = render_definition(config, workload, functions, "aws")
        dispatcher = ChaliceLambdaDispatcher(
            config.stage,
            {"AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "eu-central-1", "AWS_ENDPOINT_URL": env.endpoint},
        )
        dispatcher.add_app(
            REPOSITORY_ROOT / workload.app,
            environment={
                "LEASE_TABLE_NAME": table,
                "LEASE_PREFIX": PREFIX,
                "LEASE_MAX_CONCURRENCY": str(cap),
                "LEASE_WAIT_MODE": wait_mode,
            },
        )
        dispatcher.add_interceptor(observer)
        dispatcher.add_interceptor(queued)
        invoker: Any = dispatcher
        work_state, release_state, wait_states = "Process", "Release", set(POLL_WAIT_STATES)
    else:

        def process(payload: Any, context: TaskContext) -> Any:
            from lease_ops.local_runner import Invocation

            invocation = Invocation("bench-process", "process", "bench", {"LEASE_PREFIX": PREFIX}, context)
            return observer(invocation, payload, lambda event: {"records": len(event["records"])})

        if design == "count-then-put":
            baseline = CountThenPut(client, table, PREFIX, cap)
            invoker = FunctionTable(_count_then_put_functions(baseline), process)
            definition = count_then_put_definition(cap)
            work_state, release_state, wait_states = "Process", "DeleteLease", {"WaitForSlot"}
        else:
            baseline_co = CounterOwner(client, table, PREFIX, cap, sleep=timer.sleep)
            invoker = FunctionTable(_counter_owner_functions(baseline_co), process)
            definition = counter_owner_definition()
            work_state, release_state, wait_states = "Process", "ReleaseLock", {"WaitToGetLock"}
    runner = LocalRunner(invoker, timer=timer, seed=seed)
    running = [runner.start(machine, definition, _records(rng), name=f"run-{index:04d}") for index in range(executions)]
    results = [execution.wait(timeout=600) for execution in running]
    measured = measure(
        design,
        results,
        cap,
        work_state=work_state,
        release_state=release_state,
        wait_states=wait_states,
        queued_at=queued.at if design == OURS_HANDOFF else None,
    )
    measured.extra["max_process_at_once"] = max(observer.max_running.values(), default=0)
    usage = env.meter.snapshot(table)  # the whole run's DynamoDB bill, per execution
    measured.extra["dynamodb_requests_per_execution"] = round(usage.requests / executions, 2)
    measured.extra["capacity_units_per_execution"] = round((usage.write_units + usage.read_units) / executions, 2)
    if design == OURS_HANDOFF:
        # The bound the hand-over gap is judged against, on the same server and clock.
        measured.extra["send_task_success_round_trip"] = round(
            send_task_success_round_trip(env.endpoint) * time_scale, 3
        )
    return measured


def send_task_success_round_trip(endpoint: str, samples: int = 25) -> float:
    """Median wall seconds of one SendTaskSuccess through the embedded server to a waiting task."""
    stepfunctions = boto3.client("stepfunctions", endpoint_url=endpoint, region_name="eu-central-1")
    timings = []
    for _ in range(samples):
        token = TASK_TOKENS.issue()
        started = time.perf_counter()
        stepfunctions.send_task_success(taskToken=token, output="{}")
        timings.append(time.perf_counter() - started)
        TASK_TOKENS.close(token)
    return statistics.median(timings)
