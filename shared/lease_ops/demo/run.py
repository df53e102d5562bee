"""`make demo`: both workflows end to end on this machine, with no AWS account.

A moto server on 127.0.0.1 stands in for DynamoDB, IAM and Step Functions.
The same bootstrap as on AWS provisions the table, the caps, the roles and the
state machines on it; the local runner then executes the definitions read back
from (moto's) Step Functions, dispatching every Lambda task in-process to the
Chalice apps' handlers, with waits time-scaled.
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from lease_core import LeaseSemaphore, UnknownPrefix
from lease_core.waiting_room import WaitingRoom
from lease_ops.config.platform_config import PlatformConfig, WorkloadConfig
from lease_ops.config.samples import sample_input
from lease_ops.demo.monitor import DemoMonitor
from lease_ops.demo.report import WorkflowRun, problems_of, workflow_summary, write_report
from lease_ops.demo.timeline_check import timeline_problems
from lease_ops.demo.timeline_plot import plot_timeline
from lease_ops.errors import OperatorError
from lease_ops.local_runner import LocalRunner, RunningExecution, ScaledTimer
from lease_ops.sandbox.embedded_platform import embedded_platform
from lease_ops.sandbox.process_steps import ProcessObserver

DEFAULT_EXECUTIONS = {"analytics": 60, "batch": 20}
FALLBACK_EXECUTIONS = 20
# Simulated duration of one Process call, in workflow seconds: a whole analytics batch, or one batch chunk.
WORK_SECONDS = {"analytics": (20.0, 40.0), "batch": (6.0, 12.0)}
DEFAULT_WORK_SECONDS = (10.0, 20.0)


class DemoFailed(OperatorError):
    """A cap was exceeded, a lease leaked, an execution failed without an injected fault, or the timeline
    shows Process steps running without leases (``timeline_check``)."""

    exit_code = 1


@dataclass
class DemoOptions:
    executions: dict[str, int] = field(default_factory=dict)
    time_scale: float = 4.0
    fail_fraction: float = 0.0
    seed: int = 1
    out: Path = Path("out/demo")

    def executions_of(self, workload: WorkloadConfig) -> int:
        return self.executions.get(workload.name, DEFAULT_EXECUTIONS.get(workload.name, FALLBACK_EXECUTIONS))


def _progress_view(
    monitor: DemoMonitor, caps: dict[str, int], observer: ProcessObserver, totals: dict[str, int]
) -> Table:
    table = Table(title="make demo: leases per workflow", title_justify="left")
    for column in ("workflow", "holders / cap", "in Process", "waiting", "succeeded", "failed", "total"):
        table.add_column(column, justify="right" if column != "workflow" else "left")
    for prefix, cap in caps.items():
        counts = monitor.counts(prefix)
        holders = monitor.latest_holders.get(prefix, 0)
        style = "red" if holders > cap else ""
        table.add_row(
            prefix,
            f"[{style}]{holders}[/{style}] / {cap}" if style else f"{holders} / {cap}",
            str(observer.running.get(prefix, 0)),
            str(counts["waiting"]),
            str(counts["succeeded"]),
            str(counts["failed"]),
            str(totals[prefix]),
        )
    return table


def _summary_table(report: dict[str, Any]) -> Table:
    table = Table(title="demo report", title_justify="left")
    columns = (
        "workflow",
        "wait mode",
        "cap",
        "max at once",
        "runs",
        "ok",
        "failed",
        "injected",
        "polls",
        "steps/run",
        "p50 wait s",
        "p95 wait s",
    )
    for column in columns:
        table.add_column(column, justify="right" if column != "workflow" else "left")
    for prefix, s in report["workflows"].items():
        table.add_row(
            prefix,
            s["wait_mode"],
            str(s["cap"]),
            str(s["max_concurrent"]),
            str(s["executions"]),
            str(s["succeeded"]),
            str(s["failed"]),
            str(s["failures_injected"]),
            str(s["wait_polls"]),
            f"{s['transitions_per_run']:.1f}",
            f"{s['p50_wait_s']:.2f}",
            f"{s['p95_wait_s']:.2f}",
        )
    return table


def run_demo(config: PlatformConfig, options: DemoOptions, console: Console) -> dict[str, Any]:
    """Run the demo; returns the report. Raises ``DemoFailed`` when a guarantee did not hold."""
    if not 0.0 <= options.fail_fraction <= 1.0:
        raise OperatorError(f"--fail-fraction must be from 0 to 1, got {options.fail_fraction}")
    if options.time_scale <= 0:
        raise OperatorError(f"--time-scale must be positive, got {options.time_scale}")
    rng = random.Random(options.seed)
    workloads = list(config.workloads.values())
    with embedded_platform(config, console) as platform:
        target, definitions, machines = platform.target, platform.definitions, platform.state_machine_arns
        dynamodb = target.client("dynamodb")
        caps = {w.prefix: LeaseSemaphore(dynamodb, config.table, w.prefix).inspect().cap for w in workloads}

        timer = ScaledTimer(options.time_scale)
        executions = {
            w.name: [
                f"demo-{w.prefix}-{index:03d}-{rng.randrange(16**6):06x}" for index in range(options.executions_of(w))
            ]
            for w in workloads
        }
        arns = {
            w.name: [
                f"{machines[w.name].replace(':stateMachine:', ':execution:')}:{name}" for name in executions[w.name]
            ]
            for w in workloads
        }
        failing = {arn for w in workloads for arn in arns[w.name] if rng.random() < options.fail_fraction}
        observer = ProcessObserver(
            timer,
            {w.prefix: WORK_SECONDS.get(w.name, DEFAULT_WORK_SECONDS) for w in workloads},
            failing,
            seed=options.seed,
        )
        dispatcher = platform.dispatcher()
        dispatcher.add_interceptor(observer)
        monitor = DemoMonitor(
            {config.state_machine_name(w): w.prefix for w in workloads}, dynamodb, config.table, timer
        )
        runner = LocalRunner(dispatcher, timer=timer, seed=options.seed, listener=monitor.on_event)

        totals = {w.prefix: len(executions[w.name]) for w in workloads}
        console.print(
            f"running {', '.join(f'{n} {w.name}' for w, n in ((w, totals[w.prefix]) for w in workloads))} executions, "
            f"time scale {options.time_scale:g}x, {len(failing)} with an injected Process failure; waiting by "
            + ", ".join(sorted({w.wait_mode for w in workloads}))
        )
        started = time.monotonic()
        monitor.start()
        running: dict[str, list[RunningExecution]] = {w.name: [] for w in workloads}
        order = [(w, i) for w in workloads for i in range(len(executions[w.name]))]
        rng.shuffle(order)
        with Live(_progress_view(monitor, caps, observer, totals), console=console, refresh_per_second=4) as live:
            for workload, index in order:
                running[workload.name].append(
                    runner.start(
                        machines[workload.name],
                        definitions[workload.name],
                        sample_input(workload, rng),
                        name=executions[workload.name][index],
                    )
                )
            while any(execution.result is None for group in running.values() for execution in group):
                live.update(_progress_view(monitor, caps, observer, totals))
                time.sleep(0.25)
            live.update(_progress_view(monitor, caps, observer, totals))
        console.print()
        monitor.stop()
        duration = time.monotonic() - started

        leaked = left_waiting = 0
        for workload in workloads:
            semaphore = LeaseSemaphore(dynamodb, config.table, workload.prefix)
            with contextlib.suppress(UnknownPrefix):
                leaked += len(semaphore.inspect().holders)
                left_waiting += len(WaitingRoom(semaphore).waiters())
        runs = [
            WorkflowRun(
                w.prefix,
                caps[w.prefix],
                [execution.wait() for execution in running[w.name]],
                {arn for arn in observer.injected if arn in set(arns[w.name])},
                w.wait_mode,
            )
            for w in workloads
        ]
        report = {
            "workflows": {
                run.prefix: workflow_summary(run, observer.max_running.get(run.prefix, 0), options.time_scale)
                for run in runs
            },
            "leaked_holders": leaked,
            "waiters_left": left_waiting,
            "duration_s": round(duration, 2),
            "time_scale": options.time_scale,
            "seed": options.seed,
        }
        write_report(options.out / "report.json", report)
        plot_timeline(options.out / "timeline.png", caps, monitor.holder_samples, observer.samples, options.time_scale)
    console.print(_summary_table(report))
    console.print(
        f"leaked holders: {leaked}; took {duration:.1f} s; wrote {options.out / 'report.json'} and "
        f"{options.out / 'timeline.png'}"
    )
    problems = problems_of(report, runs) + timeline_problems(
        monitor.holder_samples, observer.samples, options.time_scale
    )
    if problems:
        raise DemoFailed("the demo found problems: " + "; ".join(problems))
    for prefix, summary in report["workflows"].items():
        reached = "reached" if summary["max_concurrent"] == summary["cap"] else "not reached"
        console.print(
            f"{prefix}: cap {summary['cap']} {reached}, never exceeded (at most {summary['max_concurrent']} at once)"
        )
    console.print("[green]no lease was left behind[/green]")
    return report
