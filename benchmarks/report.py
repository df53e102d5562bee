"""The benchmark's outputs: a terminal table, results.json, two plots and benchmarks/RESULTS.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt
from rich.console import Console
from rich.table import Table

from benchmarks.designs import DESIGN_NAMES


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}" if value != float("inf") else "∞"
    return str(value)


def terminal_tables(document: dict[str, Any]) -> list[Table]:
    contention = Table(title="contention (threads racing for the cap)", title_justify="left")
    for column in (
        "design",
        "threads",
        "cap",
        "max holders",
        "over cap",
        "cycles/s",
        "vs best baseline",
        "requests/cycle",
        "WCU/cycle",
        "RCU/cycle",
    ):
        contention.add_column(column, justify="left" if column == "design" else "right")
    for row in document["contention"]:
        contention.add_row(
            row["design"],
            *(
                _number(row[key])
                for key in (
                    "threads",
                    "cap",
                    "max_concurrent",
                    "over_admission",
                    "cycles_per_second",
                    "throughput_vs_best_baseline",
                    "requests_per_cycle",
                    "write_units_per_cycle",
                    "read_units_per_cycle",
                )
            ),
        )
    sweep = Table(title="cost of one cycle with cap-1 other holders (execution-ARN holder ids)", title_justify="left")
    for column in (
        "design",
        "cap",
        "requests/cycle",
        "WCU/cycle",
        "RCU/cycle",
        "bytes written",
        "bytes read",
        "admissions/s per partition",
    ):
        sweep.add_column(column, justify="left" if column == "design" else "right")
    for row in document["uncontended"] + document["cap_sweep"]:
        sweep.add_row(
            row["design"],
            *(
                _number(row[key])
                for key in (
                    "cap",
                    "requests_per_cycle",
                    "write_units_per_cycle",
                    "read_units_per_cycle",
                    "bytes_written_per_cycle",
                    "bytes_read_per_cycle",
                    "admissions_per_second_per_partition",
                )
            ),
        )
    workflows = Table(
        title="workflows through the local runner (cap 5, all executions started at once)", title_justify="left"
    )
    for column in (
        "design",
        "executions",
        "transitions/execution",
        "Lambda calls/execution",
        "polls/execution",
        "idle slot-seconds while waiting",
        "idle s per admission (at cap)",
        "overtaking admissions",
        "most Process at once",
    ):
        workflows.add_column(column, justify="left" if column == "design" else "right")
    for row in document["workflows"]:
        workflows.add_row(
            row["design"],
            *(
                _number(row[key])
                for key in (
                    "executions",
                    "transitions_per_execution",
                    "lambda_invocations_per_execution",
                    "polls_per_execution",
                    "idle_slot_seconds_while_waiting",
                    "idle_seconds_per_admission_after_ramp",
                    "overtaking_admissions",
                )
            ),
            _number(row["extra"]["max_process_at_once"]),
        )
    targets = Table(title="targets (this project)", title_justify="left")
    for column in ("target", "met", "measured"):
        targets.add_column(column)
    for target in document["targets"]:
        targets.add_row(target["target"], "yes" if target["met"] else "[red]no[/red]", target["measured"])
    return [contention, sweep, workflows, targets]


def plot_over_admission(document: dict[str, Any], path: Path) -> None:
    figure, axis = plt.subplots(figsize=(8, 4.5))
    for design in DESIGN_NAMES:
        for cap in sorted({row["cap"] for row in document["contention"]}):
            rows = [r for r in document["contention"] if r["design"] == design and r["cap"] == cap]
            axis.plot(
                [r["threads"] for r in rows],
                [r["over_admission"] for r in rows],
                marker="o",
                label=f"{design}, cap {cap}",
            )
    axis.set_xlabel("threads racing")
    axis.set_ylabel("holders at once above the cap (most)")
    axis.set_title("Over-admission under contention")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_cost_per_cycle(document: dict[str, Any], path: Path) -> None:
    figure, (requests, units) = plt.subplots(1, 2, figsize=(11, 4.5))
    for design in DESIGN_NAMES:
        rows = sorted((r for r in document["cap_sweep"] if r["design"] == design), key=lambda r: r["cap"])
        caps = [r["cap"] for r in rows]
        requests.plot(caps, [r["requests_per_cycle"] for r in rows], marker="o", label=design)
        units.plot(caps, [r["write_units_per_cycle"] for r in rows], marker="o", label=f"{design} WCU")
        units.plot(caps, [r["read_units_per_cycle"] for r in rows], marker="x", linestyle="--", label=f"{design} RCU")
    for axis, label in ((requests, "DynamoDB requests per cycle"), (units, "capacity units per cycle")):
        axis.set_xscale("log")
        axis.set_xlabel("cap (with cap-1 other holders)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    units.set_yscale("symlog")
    figure.suptitle("Cost of one acquire/release cycle as the semaphore fills")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def results_markdown(document: dict[str, Any], command: str) -> str:
    machine = document["machine"]
    parts = [
        "# Benchmark results",
        "",
        f"Generated from `results.json` by `{command}` on a {machine['cpus']}-core {machine['system']} machine "
        f"(Python {machine['python']}), against one embedded moto server, in {document['seconds']} s. "
        "Waits and holds are each design's own, in workflow seconds run "
        f"{document['time_scale']:g}x faster than the clock "
        f"(whole workflows: {document.get('workflow_time_scale', document['time_scale']):g}x). "
        "Capacity units are billed by DynamoDB's rules from the item sizes, not taken from moto.",
        "",
        "## Targets (this project)",
        "",
        _markdown_table(
            ["target", "met", "measured"],
            [[t["target"], "yes" if t["met"] else "**no**", t["measured"]] for t in document["targets"]],
        ),
        "",
        "## Contention",
        "",
        _markdown_table(
            [
                "design",
                "threads",
                "cap",
                "most holders at once",
                "over the cap",
                "cycles/s",
                "vs best baseline",
                "requests/cycle",
                "WCU/cycle",
                "RCU/cycle",
            ],
            [
                [
                    r["design"],
                    *(
                        _number(r[k])
                        for k in (
                            "threads",
                            "cap",
                            "max_concurrent",
                            "over_admission",
                            "cycles_per_second",
                            "throughput_vs_best_baseline",
                            "requests_per_cycle",
                            "write_units_per_cycle",
                            "read_units_per_cycle",
                        )
                    ),
                ]
                for r in document["contention"]
            ],
        ),
        "",
        "## Cost per cycle as the semaphore fills (uncontended, execution-ARN holder ids)",
        "",
        _markdown_table(
            [
                "design",
                "cap",
                "other holders",
                "requests/cycle",
                "WCU/cycle",
                "RCU/cycle",
                "bytes written/cycle",
                "bytes read/cycle",
                "admissions/s per partition",
            ],
            [
                [
                    r["design"],
                    _number(r["cap"]),
                    _number(r["cap"] - 1 if r["scenario"] == "cap-sweep" else 0),
                    *(
                        _number(r[k])
                        for k in (
                            "requests_per_cycle",
                            "write_units_per_cycle",
                            "read_units_per_cycle",
                            "bytes_written_per_cycle",
                            "bytes_read_per_cycle",
                            "admissions_per_second_per_partition",
                        )
                    ),
                ]
                for r in document["uncontended"] + document["cap_sweep"]
            ],
        ),
        "",
        "## Workflows (cap 5, all executions started at once, local runner)",
        "",
        _markdown_table(
            [
                "design",
                "executions",
                "transitions/execution",
                "Lambda calls/execution",
                "polls/execution",
                "idle slot-seconds while waiting",
                "idle s per admission (at cap)",
                "overtaking admissions",
                "most Process steps at once",
                "p50 wait (workflow s)",
                "DynamoDB requests/execution",
                "WCU+RCU/execution",
            ],
            [
                [
                    w["design"],
                    *(
                        _number(w[k])
                        for k in (
                            "executions",
                            "transitions_per_execution",
                            "lambda_invocations_per_execution",
                            "polls_per_execution",
                            "idle_slot_seconds_while_waiting",
                            "idle_seconds_per_admission_after_ramp",
                            "overtaking_admissions",
                        )
                    ),
                    _number(w["extra"]["max_process_at_once"]),
                    _number(w["p50_wait_seconds"]),
                    _number(w["extra"].get("dynamodb_requests_per_execution", "")),
                    _number(w["extra"].get("capacity_units_per_execution", "")),
                ]
                for w in document["workflows"]
            ],
        ),
        "",
        *_workflow_notes(document),
    ]
    return "\n".join(parts)


def _workflow_notes(document: dict[str, Any]) -> list[str]:
    notes = [
        f"Workflows run {document.get('workflow_time_scale', document['time_scale']):g}x faster than the clock; "
        "times are workflow seconds. Idle slot-seconds count free slots while any execution waits, the start "
        "included (every execution starts at once, through one moto server that answers one request at a "
        "time); *idle s per admission (at cap)* counts them only once the cap was first reached, per admission: "
        "the gap between a slot's release and its next holder's Process step. An admission *overtakes* when "
        "its execution started waiting (or, never waiting, started) after another that still waits.",
    ]
    handoff = next((w for w in document["workflows"] if "send_task_success_round_trip" in w["extra"]), None)
    if handoff is not None:
        notes += [
            "",
            f"One SendTaskSuccess round trip through the same server took "
            f"{handoff['extra']['send_task_success_round_trip']:g} workflow s (median), the bound a hand-over's "
            "gap is judged against.",
        ]
    return [*notes, ""]


def write_outputs(document: dict[str, Any], out: Path, results_md: Path, command: str, console: Console) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    plot_over_admission(document, out / "over_admission.png")
    plot_cost_per_cycle(document, out / "cost_per_cycle.png")
    results_md.write_text(results_markdown(document, command))
    for table in terminal_tables(document):
        console.print(table)
    console.print(
        f"wrote {out / 'results.json'}, {out / 'over_admission.png'}, {out / 'cost_per_cycle.png'} and {results_md}"
    )
