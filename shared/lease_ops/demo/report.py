"""The demo's report (JSON), from what the run recorded; its timeline (PNG) is ``timeline_plot``."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lease_ops.definitions.workflow_builder import POLL_WAIT_STATES
from lease_ops.local_runner import ExecutionResult


@dataclass(frozen=True)
class WorkflowRun:
    prefix: str
    cap: int
    results: list[ExecutionResult]
    injected: set[str]  # execution ARNs whose Process failure was injected
    wait_mode: str = "poll"


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1], 3)


def wait_seconds(result: ExecutionResult, time_scale: float) -> float | None:
    """Wall seconds from the start of the execution until its Process step began (None: it never did)."""
    processes = result.entered("Process")
    if not processes:
        return None
    return (processes[0].time - result.history[0].time) / time_scale


def workflow_summary(run: WorkflowRun, max_concurrent: int, time_scale: float) -> dict[str, Any]:
    waits = [w for r in run.results if (w := wait_seconds(r, time_scale)) is not None]
    runs = max(len(run.results), 1)
    return {
        "wait_mode": run.wait_mode,
        "cap": run.cap,
        "executions": len(run.results),
        "succeeded": sum(r.status == "SUCCEEDED" for r in run.results),
        "failed": sum(r.status != "SUCCEEDED" for r in run.results),
        "failures_injected": len(run.injected),
        "max_concurrent": max_concurrent,
        "wait_polls": sum(len(r.entered(state)) for r in run.results for state in POLL_WAIT_STATES),
        "transitions_per_run": round(sum(len(r.of_type("StateEntered")) for r in run.results) / runs, 2),
        "lambda_calls_per_run": round(sum(len(r.of_type("TaskScheduled")) for r in run.results) / runs, 2),
        "p50_wait_s": _percentile(waits, 0.50),
        "p95_wait_s": _percentile(waits, 0.95),
    }


def problems_of(report: dict[str, Any], runs: list[WorkflowRun]) -> list[str]:
    """What makes the demo fail: a cap exceeded, a lease leaked, an execution failed without injection."""
    problems = []
    for prefix, summary in report["workflows"].items():
        if summary["max_concurrent"] > summary["cap"]:
            problems.append(
                f"{prefix}: {summary['max_concurrent']} Process steps ran at once, over the cap {summary['cap']}"
            )
    if report["leaked_holders"]:
        problems.append(f"{report['leaked_holders']} lease(s) still held after every execution ended")
    if report.get("waiters_left"):
        problems.append(f"{report['waiters_left']} execution(s) still queued for a slot after every execution ended")
    for run in runs:
        unexpected = [r for r in run.results if r.status != "SUCCEEDED" and r.arn not in run.injected]
        for result in unexpected[:5]:
            problems.append(
                f"{run.prefix}: {result.name} failed without an injected fault: {result.error}: {result.cause}"
            )
        if len(unexpected) > 5:
            problems.append(f"{run.prefix}: ... and {len(unexpected) - 5} more")
    return problems


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
