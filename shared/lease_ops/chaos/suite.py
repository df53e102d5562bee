"""`make chaos`: every scenario, its runs, faults injected and invariant violations, as a table and JSON."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lease_ops.chaos.scale_scenario import run_scale_scenario
from lease_ops.chaos.workflow_scenarios import WORKFLOW_SCENARIOS, ScenarioResult, run_workflow_scenario
from lease_ops.errors import OperatorError
from lease_ops.platform_config import PlatformConfig

SCALE = "concurrency-at-scale"
SCENARIO_NAMES = [scenario.name for scenario in WORKFLOW_SCENARIOS] + [SCALE]


class InvariantViolated(OperatorError):
    exit_code = 1


@dataclass(frozen=True)
class ChaosSize:
    """How much each scenario runs: `make test` runs the quick size, `make chaos` the full one."""

    executions: dict[str, int]
    time_scale: float
    threads: int
    cycles: int


QUICK = ChaosSize(executions={"analytics": 30, "batch": 12}, time_scale=100, threads=64, cycles=3)
FULL = ChaosSize(executions={"analytics": 60, "batch": 24}, time_scale=50, threads=96, cycles=12)


def run_suite(
    config: PlatformConfig, console: Console, *, size: ChaosSize, names: list[str], seed: int, out: Path
) -> list[ScenarioResult]:
    unknown = sorted(set(names) - set(SCENARIO_NAMES))
    if unknown:
        raise OperatorError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIO_NAMES)}")
    selected = names or SCENARIO_NAMES
    results = []
    started = time.monotonic()
    for index, name in enumerate(selected, start=1):
        console.print(f"[{index}/{len(selected)}] {name} ...", end=" ")
        console.file.flush()
        if name == SCALE:
            result = run_scale_scenario(threads=size.threads, cycles=size.cycles, seed=seed)
        else:
            scenario = next(s for s in WORKFLOW_SCENARIOS if s.name == name)
            result = run_workflow_scenario(
                scenario, config, executions=size.executions, time_scale=size.time_scale, seed=seed
            )
        verdict = "[green]ok[/green]" if not result.violations else f"[red]{len(result.violations)} violations[/red]"
        console.print(f"{verdict} ({result.seconds:.1f} s)")
        results.append(result)
    console.print(results_table(results))
    out.mkdir(parents=True, exist_ok=True)
    document = {
        "seed": seed,
        "wait_modes": {name: workload.wait_mode for name, workload in config.workloads.items()},
        "size": {
            "executions": size.executions,
            "time_scale": size.time_scale,
            "threads": size.threads,
            "cycles": size.cycles,
        },
        "seconds": round(time.monotonic() - started, 1),
        "scenarios": [result.as_dict() for result in results],
    }
    (out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    console.print(f"wrote {out / 'results.json'}")
    broken = [result for result in results if result.violations]
    if broken:
        details = "; ".join(f"{r.name}: {r.violations[0]}" for r in broken)
        raise InvariantViolated(f"invariant violations in {len(broken)} scenario(s): {details}")
    return results


def results_table(results: list[ScenarioResult]) -> Table:
    table = Table(title="chaos scenarios", title_justify="left")
    for column in ("scenario", "fault", "runs", "faults injected", "invariant checks", "violations", "outcomes"):
        table.add_column(
            column,
            justify="right" if column in ("runs", "faults injected", "invariant checks", "violations") else "left",
        )
    for result in results:
        outcomes = ", ".join(f"{key.lower()} {value}" for key, value in sorted(result.outcomes.items()))
        if result.failure_errors:
            outcomes += " (" + ", ".join(f"{error} {n}" for error, n in sorted(result.failure_errors.items())) + ")"
        table.add_row(
            result.name,
            result.fault,
            str(result.runs),
            str(result.faults_injected),
            str(result.checks),
            str(len(result.violations)),
            outcomes,
        )
    return table
