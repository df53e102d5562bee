"""Workflow scenarios: both workflows run end to end on the embedded platform while one class of fault is injected.

Every scenario starts from a fresh embedded moto, provisioned by the same code as
on AWS, and runs both workflows' definitions in the local runner with lease_app's
reclaim and sweeper behind them (``ControlPlane``). Workflow time is scaled, and
so is each prefix's ``task_seconds``, so that "a task started before the abort
can still run" means the same thing in the scaled world as on AWS.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from lease_core import LeaseSemaphore
from lease_core.aws_clients import client_for
from lease_ops.caps import lease_seconds
from lease_ops.chalice_apps import load_chalice_app
from lease_ops.chaos.control_plane import ControlPlane
from lease_ops.chaos.dynamodb_faults import DynamoFaults
from lease_ops.chaos.invariants import CapMonitor, leftover_holders, leftover_waiters
from lease_ops.chaos.lambda_faults import CrashAfterWrite, ProcessGuard
from lease_ops.embedded_platform import embedded_platform
from lease_ops.local_runner import HistoryEvent, LocalRunner, ScaledTimer
from lease_ops.local_runner.lambda_dispatch import stage_environment
from lease_ops.platform_config import PlatformConfig
from lease_ops.samples import sample_input
from lease_ops.workflows import process_lambda_timeout, process_timeout_seconds

ACCOUNT = "123456789012"  # moto's default account
WORK_SECONDS = (20.0, 40.0)  # workflow seconds per Process call: long enough that executions queue


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
]


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
    seconds: float = 0.0

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
    time_scale: float,
    seed: int,
) -> ScenarioResult:
    started = time.monotonic()
    rng = random.Random(seed)
    quiet = Console(quiet=True)
    # Injected faults make the Lambdas log errors by design; the scenario's own figures say what happened.
    with embedded_platform(config, quiet, lambda_log_level=logging.CRITICAL + 1) as platform:
        clean_dynamodb = platform.target.client("dynamodb")
        task_seconds = {}
        for workload in config.workloads.values():
            scaled = math.ceil(process_timeout_seconds(workload, config.stage) / time_scale) + 1
            LeaseSemaphore(clean_dynamodb, config.table, workload.prefix).configure_timings(
                task_seconds=scaled, lease_seconds=lease_seconds(workload, config.stage)
            )
            task_seconds[workload.prefix] = scaled
        lambda_environment = {
            "AWS_REGION": config.region,
            "AWS_DEFAULT_REGION": config.region,
            "AWS_ENDPOINT_URL": platform.endpoint,
        }
        faults = DynamoFaults(scenario.dynamodb_faults, scenario.fault_probability, seed=seed)
        faults.attach(client_for("dynamodb", lambda_environment))  # the client every Lambda here uses
        timer = ScaledTimer(time_scale)
        names = {
            w.name: [f"{scenario.name}-{w.prefix}-{i:03d}" for i in range(executions[w.name])]
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
            timer,
            clean_dynamodb,
            config.table,
            WORK_SECONDS,
            {w.prefix: process_lambda_timeout(w, config.stage) for w in config.workloads.values()},
            overrunning,
            seed=seed,
        )
        crash = CrashAfterWrite(scenario.crash_probability, seed=seed)
        dispatcher = platform.dispatcher()
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

        runner = LocalRunner(dispatcher, timer=timer, seed=seed, listener=listener)
        lease_app_dir = config.app_dir(config.platform_app)
        control = ControlPlane(
            runner=runner,
            stepfunctions=platform.target.client("stepfunctions"),
            lease_app=load_chalice_app(lease_app_dir),
            lease_app_environment={**lambda_environment, **stage_environment(lease_app_dir, config.stage)},
            account_id=ACCOUNT,
            region=config.region,
        )
        aborter.control = control
        control.sweep_every(60 / time_scale)
        order = [(workload, name) for workload, group in names.items() for name in group]
        rng.shuffle(order)
        control.start_all(
            [
                (machines[workload], platform.definitions[workload], sample_input(config.workload(workload), rng), name)
                for workload, name in order
            ]
        )
        results = control.wait_all()
        control.stop_sweeping()

        faults.probability = 0.0  # the final sweep is judged, not disturbed
        if any(result.status == "ABORTED" for result in results):
            time.sleep(max(task_seconds.values()) + 0.5)  # a task of an aborted execution may run this long
        control.sweep()
        ended = {r.arn for r in results}
        left = leftover_holders(clean_dynamodb, config.table, task_seconds, ended)
        left += leftover_waiters(clean_dynamodb, config.table, task_seconds, ended)

    outcomes: dict[str, int] = {}
    failure_errors: dict[str, int] = {}
    failure_causes: list[str] = []
    for result in results:
        outcomes[result.status] = outcomes.get(result.status, 0) + 1
        if result.status == "FAILED":
            error = result.error or "unknown"
            failure_errors[error] = failure_errors.get(error, 0) + 1
            failure_causes.append(f"{result.name}: {error}: {(result.cause or '')[:300]}")
    return ScenarioResult(
        name=scenario.name,
        fault=scenario.fault,
        runs=len(results),
        faults_injected=faults.total() + crash.injected + len(aborter.aborted) + guard.timeouts,
        violations=[*caps.violations, *guard.violations, *(f"outlived its execution: {h}" for h in left)],
        outcomes=outcomes,
        failure_errors=failure_errors,
        failure_causes=failure_causes,
        checks=caps.checks + 2 * guard.calls + len(results),
        seconds=time.monotonic() - started,
    )
