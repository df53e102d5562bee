"""`make run`: start N executions of each workflow with sample input and follow them to the end."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from botocore.exceptions import ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lease_ops.aws.aws_target import AwsTarget, aws_errors, error_code
from lease_ops.config.platform_config import PlatformConfig, WorkloadConfig
from lease_ops.config.samples import sample_input
from lease_ops.errors import AwsCallFailed, ExecutionsFailed

TERMINAL_STATUSES = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass
class Execution:
    workload: str
    arn: str
    status: str = "RUNNING"
    error: str = ""


@dataclass
class RunResult:
    executions: list[Execution] = field(default_factory=list)

    def by_workload(self, workload: str) -> Counter[str]:
        return Counter(execution.status for execution in self.executions if execution.workload == workload)

    @property
    def failed(self) -> list[Execution]:
        return [execution for execution in self.executions if execution.status in TERMINAL_STATUSES - {"SUCCEEDED"}]


def _start(
    target: AwsTarget, config: PlatformConfig, workload: WorkloadConfig, count: int, rng: random.Random
) -> list[Execution]:
    sfn = target.client("stepfunctions")
    name = config.state_machine_name(workload)
    state_machine_arn = target.arn("states", f"stateMachine:{name}")
    with aws_errors(f"reading state machine {name}"):
        try:
            sfn.describe_state_machine(stateMachineArn=state_machine_arn)
        except ClientError as exc:
            if error_code(exc) == "StateMachineDoesNotExist":
                raise AwsCallFailed(
                    f"state machine {name} does not exist in {target.region}: run `make workflows` first"
                ) from None
            raise
    stamp = time.strftime("%Y%m%dT%H%M%S")
    started = []
    for index in range(count):
        with aws_errors(f"starting an execution of {name}"):
            response = sfn.start_execution(
                stateMachineArn=state_machine_arn,
                name=f"run-{stamp}-{rng.randrange(16**6):06x}-{index:04d}",
                input=json.dumps(sample_input(workload, rng)),
            )
        started.append(Execution(workload.name, response["executionArn"]))
    return started


def _refresh(target: AwsTarget, execution: Execution) -> None:
    with aws_errors("reading an execution's status"):
        description = target.client("stepfunctions").describe_execution(executionArn=execution.arn)
    execution.status = description["status"]
    if execution.status != "SUCCEEDED":
        execution.error = " ".join(filter(None, [description.get("error"), description.get("cause")]))[:200]


def run_executions(
    target: AwsTarget,
    config: PlatformConfig,
    console: Console,
    *,
    executions: int,
    workloads: list[WorkloadConfig],
    seed: int | None = None,
    poll_seconds: float = 2.0,
    timeout_seconds: float = 1800.0,
) -> RunResult:
    """Start and follow the executions; raises ``ExecutionsFailed`` if any did not succeed."""
    rng = random.Random(seed)
    result = RunResult()
    for workload in workloads:
        result.executions += _start(target, config, workload, executions, rng)
    console.print(f"started {executions} execution(s) of each of {', '.join(w.name for w in workloads)}")
    deadline = time.monotonic() + timeout_seconds
    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        tasks = {w.name: progress.add_task(w.name, total=executions, counts="") for w in workloads}
        while True:
            for execution in result.executions:
                if execution.status not in TERMINAL_STATUSES:
                    _refresh(target, execution)
            for workload in workloads:
                counts = result.by_workload(workload.name)
                finished = sum(counts[status] for status in TERMINAL_STATUSES)
                shown = ", ".join(f"{status.lower()} {n}" for status, n in sorted(counts.items()))
                progress.update(tasks[workload.name], completed=finished, counts=shown)
            if all(execution.status in TERMINAL_STATUSES for execution in result.executions):
                break
            if time.monotonic() > deadline:
                raise ExecutionsFailed(f"executions still running after {timeout_seconds:.0f} s")
            time.sleep(poll_seconds)
    _print_summary(console, result, workloads)
    if result.failed:
        raise ExecutionsFailed(f"{len(result.failed)} of {len(result.executions)} executions did not succeed")
    return result


def _print_summary(console: Console, result: RunResult, workloads: list[WorkloadConfig]) -> None:
    table = Table(title="executions")
    for column in ("workflow", "succeeded", "failed", "timed out", "aborted"):
        table.add_column(column)
    for workload in workloads:
        counts = result.by_workload(workload.name)
        table.add_row(workload.name, *(str(counts[s]) for s in ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")))
    console.print(table)
    for execution in result.failed[:10]:
        console.print(f"[red]{execution.status}[/red] {execution.arn} {execution.error}")
