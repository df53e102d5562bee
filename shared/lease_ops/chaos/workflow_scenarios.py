"""Workflow scenarios: both workflows run end to end on the embedded platform while one class of fault is injected.

Every scenario starts from a fresh embedded moto, provisioned by the same code as
on AWS, and runs both workflows' definitions in the local runner with lease_app's
reclaim and sweeper behind them (``ControlPlane``).

Time: the whole emulated world runs on one ``VirtualClock`` (discrete-event
time, see ``lease_ops.local_runner.timing``): the executions, their tasks, the
ProcessGuard's work, lease_app's sweeper, the lease core itself and the SDK's
retry backoff (``world_clock``). Workflow time moves only when every one of them
waits on the clock, so waiting for the serialised emulator, a busy CPU or the
guards' own table reads takes no workflow time, and a task lasts exactly what it
sleeps: a Process step its drawn 20-40 s of work, an overrunning one its Lambda
timeout, a lease task its SDK retries' backoff.
The timings are the deployed ones, unscaled (Process's TimeoutSeconds, the
prefix's ``task_seconds``, lease TTLs, the sweeper's minute), so "a task started
before the abort can still run" means the same as on AWS. A scenario's outcomes
therefore do not depend on the machine's speed or load: a slower machine only
makes the run take longer on the wall clock (``seconds``), never the workflows
(``workflow_seconds``).

Nothing is hidden by this: every request, check and write still happens, on
real threads racing as before; the cap is checked after every step of every
execution, and a Process whose lease is gone (or expired, on the core's clock)
when its work starts or ends is a violation.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from lease_core.aws_clients import client_for
from lease_ops.chaos.control_plane import ControlPlane
from lease_ops.chaos.dynamodb_faults import DynamoFaults
from lease_ops.chaos.invariants import CapMonitor, leftover_holders, leftover_waiters
from lease_ops.chaos.lambda_faults import CrashAfterWrite, ProcessGuard, UncatchableProcessFailure
from lease_ops.chaos.world_clock import emulator_client, world_on
from lease_ops.config.chalice_apps import load_chalice_app
from lease_ops.config.platform_config import PlatformConfig
from lease_ops.config.samples import sample_input
from lease_ops.config.workload_settings import configured_settings
from lease_ops.local_runner import ExecutionResult, HistoryEvent, LocalRunner
from lease_ops.local_runner.lambda_dispatch import stage_environment
from lease_ops.local_runner.timing import VirtualClock
from lease_ops.provisioning.workflows import process_lambda_timeout, process_timeout_seconds
from lease_ops.sandbox.embedded_platform import embedded_platform

ACCOUNT = "123456789012"  # moto's default account
WORK_SECONDS = (20.0, 40.0)  # workflow seconds per Process call: long enough that executions queue
SWEEP_SECONDS = 60.0  # lease_app's sweeper runs every minute


@dataclass(frozen=True)
class WorkflowScenario:
    name: str
    fault: str
    dynamodb_faults: tuple[str, ...] = ()
    fault_probability: float = 0.0
    crash_probability: float = 0.0
    abort_when: tuple[str, str] | None = None  # (history event type, state name)
    abort_when_handoff: tuple[str, str] | None = None  # the same point in handoff mode, if it differs
    abort_fraction: float = 0.0
    overrun_fraction: float = 0.0
    runtime_failure_fraction: float = 0.0  # executions that fail inside Process, past every Catch
    # Workflow seconds after an aborted or failed execution ended at which it is redriven (RedriveExecution):
    # short, so that a Process it started is still running when the redriven run restarts at Process.
    redrive_after: float | None = None
    # (workflow seconds from the start, cap per workload) changes made live through lease_app's API; a workload
    # left out of a change gets its configured cap back.
    cap_changes: tuple[tuple[float, tuple[tuple[str, int], ...]], ...] = ()


WORKFLOW_SCENARIOS = [
    WorkflowScenario("dynamodb-throttling", "20% of DynamoDB requests throttled", ("throttling",), 0.2),
    WorkflowScenario(
        "dynamodb-server-errors", "20% of DynamoDB requests: InternalServerError", ("internal-error",), 0.2
    ),
    WorkflowScenario("dynamodb-timeouts", "20% of DynamoDB requests time out", ("timeout",), 0.2),
    WorkflowScenario("dynamodb-lost-responses", "30% of writes succeed, answer lost", ("lost-response",), 0.3),
    WorkflowScenario("lambda-crash-after-write", "20% of lease Lambdas die after writing", crash_probability=0.2),
    WorkflowScenario(
        "abort-while-waiting",
        "60% of waiting executions aborted",
        abort_when=("StateEntered", "WaitForLease"),
        abort_when_handoff=("TaskWaitingForCallback", "Acquire"),  # handoff waits in the Acquire task
        abort_fraction=0.6,
    ),
    WorkflowScenario(
        "abort-while-holding",
        "30% aborted while Process runs",
        abort_when=("StateEntered", "Process"),
        abort_fraction=0.3,
    ),
    WorkflowScenario(
        "abort-during-release",
        "30% aborted while Release runs",
        abort_when=("TaskScheduled", "Release"),
        abort_fraction=0.3,
    ),
    WorkflowScenario("process-timeout", "20% of Process calls hit the Lambda timeout", overrun_fraction=0.2),
    WorkflowScenario(
        "redrive-after-abort",
        "30% aborted while Process runs, redriven 5 s later (their Process still running)",
        abort_when=("StateEntered", "Process"),
        abort_fraction=0.3,
        redrive_after=5.0,
    ),
    WorkflowScenario(
        "redrive-after-failure",
        "30% fail inside Process (States.Runtime, past every Catch), redriven 5 s later",
        runtime_failure_fraction=0.3,
        redrive_after=5.0,
    ),
    WorkflowScenario(
        "cap-lowered-while-queued",
        "caps lowered to 2 and 1 while executions wait (then restored), through lease_app's API",
        cap_changes=((10.0, (("analytics", 2), ("batch", 1))), (200.0, ())),
    ),
]


def _change_caps(scenario: WorkflowScenario, config: PlatformConfig, control: ControlPlane, clock: VirtualClock) -> int:
    """Apply the scenario's cap changes at their workflow times; returns how many caps were changed."""
    configured = {w.name: configured_settings(w, config.stage).max_concurrency for w in config.workloads.values()}
    changed = 0
    started = clock.now()
    for at, caps in scenario.cap_changes:
        clock.sleep(max(0.0, started + at - clock.now()))
        for name, workload in config.workloads.items():
            control.set_cap(workload.prefix, dict(caps).get(name, configured[name]))
            changed += 1
    return changed


class _Redriver:
    """Redrives each execution of the scenario that ended ABORTED or FAILED, once, ``after`` seconds later."""

    def __init__(self, after: float | None, clock: VirtualClock) -> None:
        self.after = after
        self.clock = clock
        self.control: ControlPlane | None = None
        self.redriven: set[str] = set()
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, result: ExecutionResult) -> None:
        if self.after is None or self.control is None or result.status not in ("ABORTED", "FAILED"):
            return
        with self._lock:
            if result.arn in self.redriven:
                return
            self.redriven.add(result.arn)
        self.clock.sleep(self.after)
        try:
            self.control.redrive(result.arn)
        except Exception as exc:  # a redrive the emulated API refused is the scenario's failure, reported
            with self._lock:
                self.errors.append(f"redrive of {result.arn.rsplit(':', 1)[-1]} refused: {type(exc).__name__}: {exc}")


@dataclass
class ScenarioResult:
    name: str
    fault: str
    runs: int
    faults_injected: int
    violations: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    failure_errors: dict[str, int] = field(default_factory=dict)  # why the FAILED executions failed
    failure_causes: list[str] = field(default_factory=list)
    checks: int = 0
    seconds: float = 0.0  # on the wall clock: what the machine took
    workflow_seconds: float = 0.0  # on the scenario's clock: from the start to the last execution's end

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "fault": self.fault,
            "runs": self.runs,
            "faults_injected": self.faults_injected,
            "invariant_violations": len(self.violations),
            "violations": self.violations[:20],
            "outcomes": self.outcomes,
            "failure_errors": self.failure_errors,
            "failure_causes": self.failure_causes[:20],
            "invariant_checks": self.checks,
            "seconds": round(self.seconds, 2),
            "workflow_seconds": round(self.workflow_seconds, 2),
        }


class _Aborter:
    """Aborts a chosen share of executions when they reach the scenario's point."""

    def __init__(self, scenario: WorkflowScenario, seed: int, *, handoff: bool = False) -> None:
        self.scenario = scenario
        self.point = (scenario.abort_when_handoff if handoff else None) or scenario.abort_when
        self.rng = random.Random(seed)
        self.control: ControlPlane | None = None
        self.aborted: set[str] = set()
        self.decided: set[str] = set()
        self._lock = threading.Lock()

    def on_event(self, event: HistoryEvent) -> None:
        if self.point != (event.type, event.state) or self.control is None:
            return
        with self._lock:
            if event.execution_arn in self.decided:
                return
            self.decided.add(event.execution_arn)
            if self.rng.random() >= self.scenario.abort_fraction:
                return
            self.aborted.add(event.execution_arn)
        self.control.abort(event.execution_arn)


def run_workflow_scenario(
    scenario: WorkflowScenario,
    config: PlatformConfig,
    *,
    executions: dict[str, int],
    seed: int,
) -> ScenarioResult:
    started = time.monotonic()
    rng = random.Random(seed)
    quiet = Console(quiet=True)
    # Injected faults make the Lambdas log errors by design; the scenario's own figures say what happened.
    with embedded_platform(config, quiet, lambda_log_level=logging.CRITICAL + 1) as platform:
        clock = VirtualClock()  # starts now: nothing provisioned above lies in its future
        try:
            with world_on(clock):
                results, violations, counts = _run(scenario, config, platform, clock, executions, rng, seed)
        finally:
            clock.close()

    # A redriven execution ends once per run: its outcome is that of its last run (the last to end).
    final = list({result.arn: result for result in results}.values())
    outcomes: dict[str, int] = {}
    failure_errors: dict[str, int] = {}
    failure_causes: list[str] = []
    if len(final) < len(results):
        outcomes["redriven"] = len(results) - len(final)
    for result in final:
        outcomes[result.status] = outcomes.get(result.status, 0) + 1
        if result.status == "FAILED":
            error = result.error or "unknown"
            failure_errors[error] = failure_errors.get(error, 0) + 1
            failure_causes.append(f"{result.name}: {error}: {(result.cause or '')[:300]}")
    return ScenarioResult(
        name=scenario.name,
        fault=scenario.fault,
        runs=len(final),
        faults_injected=int(counts["faults"]),
        violations=violations,
        outcomes=outcomes,
        failure_errors=failure_errors,
        failure_causes=failure_causes,
        checks=int(counts["checks"]),
        seconds=time.monotonic() - started,
        workflow_seconds=counts["workflow_seconds"],
    )


def _run(
    scenario: WorkflowScenario,
    config: PlatformConfig,
    platform: Any,
    clock: VirtualClock,
    executions: dict[str, int],
    rng: random.Random,
    seed: int,
) -> tuple[list[ExecutionResult], list[str], dict[str, float]]:
    """Run the scenario's executions on ``clock`` to their end, then judge what is left in the table."""
    # The scenario's own clients (no injected faults, no wall-clock timeouts): the monitors' checks must not fail
    # for their own reasons, on any machine.
    clean_dynamodb = emulator_client("dynamodb", config.region, platform.endpoint)
    # The deployed timings, unscaled: provisioning wrote each prefix's task_seconds and lease TTL.
    task_seconds = {w.prefix: process_timeout_seconds(w, config.stage) for w in config.workloads.values()}
    lambda_environment = {
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": config.region,
        "AWS_ENDPOINT_URL": platform.endpoint,
    }
    faults = DynamoFaults(scenario.dynamodb_faults, scenario.fault_probability, seed=seed)
    faults.attach(client_for("dynamodb", lambda_environment))  # the client every Lambda here uses
    # A workload the size does not name (one added with `make workload`) runs no executions: the scenarios
    # are sized for the shipped workloads, and the lease core they test is the same for every prefix.
    names = {
        w.name: [f"{scenario.name}-{w.prefix}-{i:03d}" for i in range(executions.get(w.name, 0))]
        for w in config.workloads.values()
    }
    machines = platform.state_machine_arns
    arns = {
        name: f"{machines[workload]}".replace(":stateMachine:", ":execution:") + f":{name}"
        for workload, group in names.items()
        for name in group
    }
    overrunning = {arn for arn in arns.values() if rng.random() < scenario.overrun_fraction}
    guard = ProcessGuard(
        clock,
        clean_dynamodb,
        config.table,
        WORK_SECONDS,
        {w.prefix: process_lambda_timeout(w, config.stage) for w in config.workloads.values()},
        overrunning,
        seed=seed,
        now=clock.time,
    )
    crash = CrashAfterWrite(scenario.crash_probability, seed=seed)
    runtime_failures = UncatchableProcessFailure(
        {arn for arn in arns.values() if rng.random() < scenario.runtime_failure_fraction}
    )
    dispatcher = platform.dispatcher()
    dispatcher.add_interceptor(runtime_failures)  # outermost: the guard sees the work done first
    dispatcher.add_interceptor(crash)
    dispatcher.add_interceptor(guard)
    caps = CapMonitor(
        clean_dynamodb, config.table, {config.state_machine_name(w): w.prefix for w in config.workloads.values()}
    )
    handoff = any(w.wait_mode == "handoff" for w in config.workloads.values())
    aborter = _Aborter(scenario, seed, handoff=handoff)

    def listener(event: HistoryEvent) -> None:
        caps.on_event(event)
        aborter.on_event(event)

    runner = LocalRunner(dispatcher, timer=clock, seed=seed, listener=listener)
    lease_app_dir = config.app_dir(config.platform_app)
    control = ControlPlane(
        runner=runner,
        clock=clock,
        stepfunctions=emulator_client("stepfunctions", config.region, platform.endpoint),
        lease_app=load_chalice_app(lease_app_dir),
        lease_app_environment={**lambda_environment, **stage_environment(lease_app_dir, config.stage)},
        account_id=ACCOUNT,
        region=config.region,
    )
    aborter.control = control
    redriver = _Redriver(scenario.redrive_after, clock)
    redriver.control = control
    control.after_end = redriver
    # This thread is a participant from here on: workflow time moves only while it waits on the clock (and not,
    # say, while it starts the executions).
    with clock.participating():
        control.sweep_every(SWEEP_SECONDS)
        order = [(workload, name) for workload, group in names.items() for name in group]
        rng.shuffle(order)
        control.start_all(
            [
                (machines[workload], platform.definitions[workload], sample_input(config.workload(workload), rng), name)
                for workload, name in order
            ]
        )
        cap_changes: list[int] = []
        cap_change_errors: list[str] = []

        def change_caps() -> None:
            try:
                cap_changes.append(_change_caps(scenario, config, control, clock))
            except Exception as exc:  # a cap change that did not happen makes the scenario prove nothing
                cap_change_errors.append(f"cap change failed: {type(exc).__name__}: {exc}")

        if scenario.cap_changes:
            changer = clock.start_thread(change_caps, "cap-changes")
        results = control.wait_all()
        if scenario.cap_changes:
            clock.wait_until(lambda: bool(cap_changes) or not changer.is_alive())
        ended_at = clock.now()
        control.stop_sweeping()
        faults.probability = 0.0  # the final sweep is judged, not disturbed
        if any(result.status == "ABORTED" for result in results):
            clock.sleep(max(task_seconds.values()) + 1)  # a task of an aborted execution may run this long
        control.sweep()
        ended = {r.arn for r in results}
        left = leftover_holders(clean_dynamodb, config.table, task_seconds, ended)
        left += leftover_waiters(clean_dynamodb, config.table, task_seconds, ended)
    unfinished = len(arns) - len({result.arn for result in results})
    violations = [
        *caps.violations,
        *guard.violations,
        *(f"outlived its execution: {h}" for h in left),
        *([f"{unfinished} executions did not end"] if unfinished else []),
        *redriver.errors,
        *cap_change_errors,
    ]
    counts = {
        "faults": faults.total()
        + crash.injected
        + len(aborter.aborted)
        + guard.timeouts
        + runtime_failures.injected
        + sum(cap_changes),
        "checks": caps.checks + guard.checks + len(results),
        "workflow_seconds": ended_at,
    }
    return results, violations, counts
