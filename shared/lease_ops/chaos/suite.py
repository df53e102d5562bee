"""`make chaos`: every scenario, its runs, faults injected and invariant violations, as a table and JSON.

The workflow scenarios run on a ``VirtualClock`` (see ``workflow_scenarios``): their outcomes do not depend on
the machine's speed or load, only the run's duration on the wall clock does. The results file says how long
the run took, on which machine and under which load (``machine``, ``load``); see ``report`` for where it and
the markdown summary go.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from lease_core import item_layout as lease_item_layout
from lease_ops.chaos.machine import LoadMeter, machine
from lease_ops.chaos.report import CLOCK, RECORD_DIR, SUMMARY, commit, results_table, write_outputs
from lease_ops.chaos.scale_scenario import run_scale_scenario
from lease_ops.chaos.workflow_scenarios import WORKFLOW_SCENARIOS, ScenarioResult, run_workflow_scenario
from lease_ops.config.platform_config import PlatformConfig
from lease_ops.errors import OperatorError

SCALE = "concurrency-at-scale"
BY_CAP = "by-cap"  # item layouts: each prefix in its cap's (the default), or "wide" for every prefix
SCENARIO_NAMES = [scenario.name for scenario in WORKFLOW_SCENARIOS] + [SCALE]


class InvariantViolated(OperatorError):
    exit_code = 1


@dataclass(frozen=True)
class ChaosSize:
    """How much each scenario runs: `make test` runs the quick size, `make chaos` the full one.

    ``record``: a complete run of this size is kept in ``benchmarks/chaos/`` and summarised in
    ``benchmarks/CHAOS.md``.
    """

    name: str
    executions: dict[str, int]
    threads: int
    cycles: int
    record: bool = False


QUICK = ChaosSize("quick", executions={"analytics": 24, "batch": 10}, threads=64, cycles=3)
FULL = ChaosSize("full", executions={"analytics": 60, "batch": 24}, threads=96, cycles=12, record=True)


@contextlib.contextmanager
def layout_threshold(item_layout: str) -> Iterator[None]:
    """``wide``: every prefix created (or set idle) during the run takes the wide layout. The whole emulated
    platform runs in this process, and only a semaphore's creation or a cap change reads the threshold."""
    if item_layout == BY_CAP:
        yield
        return
    saved = lease_item_layout.WIDE_ABOVE_CAP
    lease_item_layout.WIDE_ABOVE_CAP = 0
    try:
        yield
    finally:
        lease_item_layout.WIDE_ABOVE_CAP = saved


def _command(config: PlatformConfig, size: ChaosSize, names: list[str], seed: int, item_layout: str) -> str:
    modes = {workload.wait_mode for workload in config.workloads.values()}
    words = ["python -m lease_ops chaos"]
    if size is QUICK:
        words.append("--quick")
    if len(modes) == 1:
        words.append(f"--wait-mode {modes.pop()}")
    words += [f"--scenario {name}" for name in names]
    if seed != 1:
        words.append(f"--seed {seed}")
    if item_layout != BY_CAP:
        words.append(f"--item-layout {item_layout}")
    return " ".join(words)


def run_suite(
    config: PlatformConfig,
    console: Console,
    *,
    size: ChaosSize,
    names: list[str],
    seed: int,
    out: Path,
    record_dir: Path = RECORD_DIR,
    summary_path: Path = SUMMARY,
    item_layout: str = BY_CAP,
) -> list[ScenarioResult]:
    unknown = sorted(set(names) - set(SCENARIO_NAMES))
    if unknown:
        raise OperatorError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIO_NAMES)}")
    selected = names or SCENARIO_NAMES
    results = []
    started_at = datetime.datetime.now(datetime.UTC)
    started_on = commit()  # the code the run loaded: commits made while it runs are not in it
    meter = LoadMeter()
    for index, name in enumerate(selected, start=1):
        console.print(f"[{index}/{len(selected)}] {name} ...", end=" ")
        console.file.flush()
        with layout_threshold(item_layout):
            if name == SCALE:
                result = run_scale_scenario(threads=size.threads, cycles=size.cycles, seed=seed)
            else:
                scenario = next(s for s in WORKFLOW_SCENARIOS if s.name == name)
                result = run_workflow_scenario(scenario, config, executions=size.executions, seed=seed)
        verdict = "[green]ok[/green]" if not result.violations else f"[red]{len(result.violations)} violations[/red]"
        console.print(f"{verdict} ({result.seconds:.1f} s)")
        results.append(result)
    load = meter.report()
    rows = [result.as_dict() for result in results]
    console.print(results_table(rows))
    document = {
        "command": _command(config, size, names, seed, item_layout),
        "started_at": started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": load.pop("seconds"),
        "machine": machine(),
        "load": load,
        "commit": started_on,
        "clock": CLOCK,
        "seed": seed,
        "wait_modes": {name: workload.wait_mode for name, workload in config.workloads.items()},
        "item_layout": item_layout,
        "size": {
            "name": size.name,
            "executions": size.executions,
            "executions_total": sum(size.executions.values()),
            "threads": size.threads,
            "cycles": size.cycles,
        },
        "scenarios": rows,
    }
    complete = size.record and selected == SCENARIO_NAMES
    written = write_outputs(out, document, record_dir=record_dir if complete else None, summary_path=summary_path)
    console.print("wrote " + ", ".join(str(path) for path in written))
    broken = [result for result in results if result.violations]
    if broken:
        details = "; ".join(f"{r.name}: {r.violations[0]}" for r in broken)
        raise InvariantViolated(f"invariant violations in {len(broken)} scenario(s): {details}")
    return results
