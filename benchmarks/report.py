"""The benchmark's outputs: a terminal table, results.json, two plots and benchmarks/RESULTS.md."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt
from rich.console import Console
from rich.table import Table

from benchmarks.burst.report import checked_in_report, with_results_section
from benchmarks.designs import DESIGN_NAMES
from benchmarks.readme_targets import update_readme


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}" if value != float("inf") else "∞"
    return str(value)


def _field(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row[key]


def _extra(key: str, default: Any = "") -> Callable[[dict[str, Any]], Any]:
    return lambda row: row["extra"].get(key, default)


# One list of (header, value) per table, shared by the terminal and RESULTS.md so that they cannot drift apart.
Columns = list[tuple[str, Callable[[dict[str, Any]], Any]]]
CONTENTION_COLUMNS: Columns = [
    ("design", _field("design")),
    ("threads", _field("threads")),
    ("cap", _field("cap")),
    ("most holders at once", _field("max_concurrent")),
    ("over the cap", _field("over_admission")),
    ("cycles/s", _field("cycles_per_second")),
    ("vs best baseline", _field("throughput_vs_best_baseline")),
    ("requests/cycle", _field("requests_per_cycle")),
    ("WCU/cycle", _field("write_units_per_cycle")),
    ("RCU/cycle", _field("read_units_per_cycle")),
]
COST_COLUMNS: Columns = [
    ("design", _field("design")),
    ("cap", _field("cap")),
    ("other holders", lambda row: row["cap"] - 1 if row["scenario"] == "cap-sweep" else 0),
    ("requests/cycle", _field("requests_per_cycle")),
    ("WCU/cycle", _field("write_units_per_cycle")),
    ("RCU/cycle", _field("read_units_per_cycle")),
    ("bytes written/cycle", _field("bytes_written_per_cycle")),
    ("bytes read/cycle", _field("bytes_read_per_cycle")),
    ("admissions/s per partition", _field("admissions_per_second_per_partition")),
    ("WCU of a refused admission", lambda row: row.get("refused_write_units")),
    ("RCU of a refused admission", lambda row: row.get("refused_read_units")),
]
QUEUE_COLUMNS: Columns = [
    ("cap", _field("cap")),
    ("executions queued", _field("queued")),
    ("operation", _field("operation")),
    ("requests", _field("requests")),
    ("WCU", _field("write_units")),
    ("RCU", _field("read_units")),
]
WORKFLOW_COLUMNS: Columns = [
    ("design", _field("design")),
    ("executions", _field("executions")),
    ("transitions/execution", _field("transitions_per_execution")),
    ("Lambda calls/execution", _field("lambda_invocations_per_execution")),
    ("polls/execution", _field("polls_per_execution")),
    ("idle slot-seconds while waiting", _field("idle_slot_seconds_while_waiting")),
    ("idle s per admission (at cap)", _field("idle_seconds_per_admission_after_ramp")),
    ("overtaking admissions", _field("overtaking_admissions")),
    ("most Process steps at once", lambda row: row["extra"]["max_process_at_once"]),
    ("p50 wait (workflow s)", _field("p50_wait_seconds")),
    ("DynamoDB requests/execution", _extra("dynamodb_requests_per_execution")),
    ("WCU+RCU/execution", _extra("capacity_units_per_execution")),
]


def _cells(columns: Columns, rows: list[dict[str, Any]]) -> list[list[str]]:
    return [[_number(value(row)) for _, value in columns] for row in rows]


def _cost_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    return document["uncontended"] + document["cap_sweep"]


def _terminal_table(title: str, columns: Columns, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for header, _ in columns:
        table.add_column(header, justify="left" if header == "design" else "right")
    for cells in _cells(columns, rows):
        table.add_row(*cells)
    return table


def terminal_tables(document: dict[str, Any]) -> list[Table]:
    targets = Table(title="targets (this project)", title_justify="left")
    for column in ("target", "met", "measured"):
        targets.add_column(column)
    for target in document["targets"]:
        targets.add_row(target["target"], "yes" if target["met"] else "[red]no[/red]", target["measured"])
    return [
        _terminal_table("contention (threads racing for the cap)", CONTENTION_COLUMNS, document["contention"]),
        _terminal_table(
            "cost of one cycle with cap-1 other holders (execution-ARN holder ids)", COST_COLUMNS, _cost_rows(document)
        ),
        _terminal_table(
            "handoff queue operations (task tokens of about 1 KB)", QUEUE_COLUMNS, document.get("queue_costs", [])
        ),
        _terminal_table(
            "workflows through the local runner (cap 5, all executions started at once)",
            WORKFLOW_COLUMNS,
            document["workflows"],
        ),
        targets,
    ]


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


def _markdown_lines(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _markdown_table(columns: Columns, rows: list[dict[str, Any]]) -> str:
    return _markdown_lines([header for header, _ in columns], _cells(columns, rows))


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
        _markdown_lines(
            ["target", "met", "measured"],
            [[t["target"], "yes" if t["met"] else "**no**", t["measured"]] for t in document["targets"]],
        ),
        "",
        "## Contention",
        "",
        _markdown_table(CONTENTION_COLUMNS, document["contention"]),
        "",
        "## Cost per cycle as the semaphore fills (uncontended, execution-ARN holder ids)",
        "",
        _markdown_table(COST_COLUMNS, _cost_rows(document)),
        "",
        "## Handoff queue operations as the queue grows (task tokens of about 1 KB)",
        "",
        _markdown_table(QUEUE_COLUMNS, document.get("queue_costs", [])),
        "",
        "A queueing is the failed admission, the place and index items, and the count; a re-check is the failed "
        "admission and the new token on the place; a hand-over is the release that finds the queue waiting, one "
        "Query of the queue's head, and the transaction that moves the slot and deletes the place.",
        "",
        "## Workflows (cap 5, all executions started at once, local runner)",
        "",
        _markdown_table(WORKFLOW_COLUMNS, document["workflows"]),
        "",
        *_workflow_notes(document),
    ]
    burst = checked_in_report()
    text = "\n".join(parts)
    return text if burst is None else with_results_section(text, burst)


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
    update_readme(results_md)
    for table in terminal_tables(document):
        console.print(table)
    console.print(
        f"wrote {out / 'results.json'}, {out / 'over_admission.png'}, {out / 'cost_per_cycle.png'} and {results_md}"
    )
