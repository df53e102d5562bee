"""Every benchmark scenario, for every design, in one run on one moto server; then the targets."""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from benchmarks.cycles import CycleResult, run_cycles
from benchmarks.designs import BASELINES, DESIGN_NAMES, WORKFLOW_DESIGN_NAMES
from benchmarks.environment import bench_environment
from benchmarks.flat_cost_targets import flat_cost_targets
from benchmarks.queue_cost import CAPS as QUEUE_CAPS
from benchmarks.queue_cost import measure_queue_costs
from benchmarks.workflow_runs import run_workflows

PARTITION_WRITE_UNITS_PER_SECOND = 1000
PARTITION_READ_UNITS_PER_SECOND = 3000
OURS = "lease-core"
OURS_HANDOFF = "lease-core-handoff"


@dataclass(frozen=True)
class BenchSize:
    threads: tuple[int, ...]
    caps: tuple[int, ...]
    cycles_per_thread: int
    uncontended_cycles: int
    sweep_caps: tuple[int, ...]
    sweep_cycles: int
    workflow_executions: int
    queue_lengths: tuple[int, ...] = (10, 1_000)
    time_scale: float = 100.0
    # Whole workflows run slower: at 100x, a moto request's few milliseconds would look like 0.5 s of
    # workflow time and swamp the difference between waiting modes that the comparison is about.
    workflow_time_scale: float = 10.0


FULL = BenchSize((8, 32, 64), (5, 15), 4, 40, (1, 5, 15, 50, 100, 250, 500, 1000), 5, 40, (10, 100_000))
QUICK = BenchSize((8, 32), (5,), 2, 10, (1, 15, 50, 100, 250), 3, 20, (10, 1_000))


def ceiling(write_units_per_admission: float, read_units_per_admission: float) -> float:
    """Admissions per second one partition allows (1,000 WCU/s, 3,000 RCU/s) at this cost per admission."""
    limits = []
    if write_units_per_admission > 0:
        limits.append(PARTITION_WRITE_UNITS_PER_SECOND / write_units_per_admission)
    if read_units_per_admission > 0:
        limits.append(PARTITION_READ_UNITS_PER_SECOND / read_units_per_admission)
    return round(min(limits), 1) if limits else math.inf


def _with_ratio(results: list[CycleResult]) -> list[dict[str, Any]]:
    """Each result as a dict, with its cycles per second over the best baseline's in the same scenario."""
    rows = [result.as_dict() for result in results]
    for row in rows:
        peers = [
            r["cycles_per_second"]
            for r in rows
            if r["design"] in BASELINES
            and (r["scenario"], r["threads"], r["cap"]) == (row["scenario"], row["threads"], row["cap"])
        ]
        best = max(peers, default=0.0)
        row["throughput_vs_best_baseline"] = round(row["cycles_per_second"] / best, 2) if best else None
        row["admissions_per_second_per_partition"] = ceiling(row["write_units_per_cycle"], row["read_units_per_cycle"])
    return rows


def evaluate_targets(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets for this project's core, each met or missed, with the measured figures."""
    ours = [r for r in document["contention"] + document["uncontended"] + document["cap_sweep"] if r["design"] == OURS]
    worst = max(r["over_admission"] for r in ours)
    workflows = [w for w in document["workflows"] if w["design"] in (OURS, OURS_HANDOFF)]
    worst_workflow = max((w["extra"]["max_process_at_once"] - w["cap"] for w in workflows), default=0)
    uncontended = next(r for r in document["uncontended"] if r["design"] == OURS)
    sweep = {r["cap"]: r for r in document["cap_sweep"] if r["design"] == OURS}
    small = [cap for cap in sorted(sweep) if cap <= 15]
    units = {cap: sweep[cap]["write_units_per_cycle"] + sweep[cap]["read_units_per_cycle"] for cap in small}
    flat = len(set(units.values())) <= 1
    return [
        *core_targets(worst, worst_workflow, uncontended, units, flat, small),
        *flat_cost_targets(document),
        *handoff_targets(document),
    ]


def handoff_targets(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 9's targets for the handoff wait mode, against the polling mode of the same run."""
    by_design = {w["design"]: w for w in document["workflows"]}
    handoff, poll = by_design.get(OURS_HANDOFF), by_design.get(OURS)
    if handoff is None or poll is None:
        return []
    round_trip = handoff["extra"]["send_task_success_round_trip"]
    gap = handoff["idle_seconds_per_admission_after_ramp"]
    return [
        {
            "target": "handoff: zero polling transitions",
            "met": handoff["polls_per_execution"] == 0,
            "measured": f"{handoff['polls_per_execution']:g} polls per execution (poll mode: "
            f"{poll['polls_per_execution']:g}); {handoff['transitions_per_execution']:g} transitions and "
            f"{handoff['lambda_invocations_per_execution']:g} Lambda calls per execution (poll mode: "
            f"{poll['transitions_per_execution']:g} and {poll['lambda_invocations_per_execution']:g})",
        },
        {
            "target": "handoff: slot idle while waiters exist bounded by one SendTaskSuccess round trip",
            "met": gap <= round_trip,
            "measured": f"{gap:g} s idle per admission at cap (poll mode: "
            f"{poll['idle_seconds_per_admission_after_ramp']:g} s); one SendTaskSuccess: {round_trip:g} s",
        },
        {
            "target": "handoff: no overtaking among waiters",
            "met": handoff["overtaking_admissions"] == 0,
            "measured": f"{handoff['overtaking_admissions']} overtaking admissions "
            f"(poll mode: {poll['overtaking_admissions']})",
        },
    ]


def core_targets(
    worst: int, worst_workflow: int, uncontended: dict[str, Any], units: dict[int, float], flat: bool, small: list[int]
) -> list[dict[str, Any]]:
    return [
        {
            "target": "zero over-admission in every scenario",
            "met": worst == 0 and worst_workflow <= 0,
            "measured": f"most holders over the cap: {worst} (threads), {max(worst_workflow, 0)} (workflows)",
        },
        {
            "target": "one DynamoDB write per admission and one per release when uncontended",
            "met": uncontended["requests_per_cycle"] == 2.0 and uncontended["read_units_per_cycle"] == 0,
            "measured": (
                f"{uncontended['requests_per_cycle']} requests and "
                f"{uncontended['read_units_per_cycle']} read units per cycle"
            ),
        },
        {
            "target": "capacity units per cycle that do not grow with the active holders, for caps up to 15",
            "met": flat,
            "measured": ", ".join(f"cap {cap}: {value:g} units per cycle" for cap, value in units.items())
            + (
                ""
                if flat
                else f" ({max(units.values()) / min(units.values()):.1f}x from the smallest to cap {max(small)})"
            ),
        },
    ]


def run_benchmark(size: BenchSize, console: Console, *, seed: int = 1) -> dict[str, Any]:
    started = time.monotonic()
    contention: list[CycleResult] = []
    uncontended: list[CycleResult] = []
    sweep: list[CycleResult] = []
    workflows: list[dict[str, Any]] = []
    with bench_environment() as env:
        for threads in size.threads:
            for cap in size.caps:
                for design in DESIGN_NAMES:
                    console.print(f"contention: {design}, {threads} threads, cap {cap}")
                    contention.append(
                        run_cycles(
                            env,
                            design,
                            scenario="contention",
                            threads=threads,
                            cap=cap,
                            cycles_per_thread=size.cycles_per_thread,
                            time_scale=size.time_scale,
                            seed=seed,
                        )
                    )
        for design in DESIGN_NAMES:
            console.print(f"uncontended: {design}")
            uncontended.append(
                run_cycles(
                    env,
                    design,
                    scenario="uncontended",
                    threads=1,
                    cap=5,
                    cycles_per_thread=size.uncontended_cycles,
                    time_scale=size.time_scale,
                    seed=seed,
                )
            )
        for cap in size.sweep_caps:
            for design in DESIGN_NAMES:
                console.print(f"cap sweep: {design}, cap {cap} with {cap - 1} other holders")
                sweep.append(
                    run_cycles(
                        env,
                        design,
                        scenario="cap-sweep",
                        threads=1,
                        cap=cap,
                        prefill=cap - 1,
                        cycles_per_thread=size.sweep_cycles,
                        time_scale=size.time_scale,
                        seed=seed,
                    )
                )
        for design in WORKFLOW_DESIGN_NAMES:
            console.print(f"workflows: {design}, {size.workflow_executions} executions, cap 5")
            workflows.append(
                run_workflows(
                    env,
                    design,
                    executions=size.workflow_executions,
                    cap=5,
                    time_scale=size.workflow_time_scale,
                    seed=seed,
                ).as_dict()
            )
        queue_costs = []
        for cap in QUEUE_CAPS:
            for queued in size.queue_lengths:
                console.print(f"handoff queue costs with {queued:,} executions queued for cap {cap}")
                queue_costs += [cost.as_dict() for cost in measure_queue_costs(env, queued, cap)]
    document: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": f"{platform.system()} {platform.machine()}",
        },
        "time_scale": size.time_scale,
        "workflow_time_scale": size.workflow_time_scale,
        "seconds": round(time.monotonic() - started, 1),
        "contention": _with_ratio(contention),
        "uncontended": _with_ratio(uncontended),
        "cap_sweep": _with_ratio(sweep),
        "workflows": workflows,
        "queue_costs": queue_costs,
    }
    document["targets"] = evaluate_targets(document)
    return document
