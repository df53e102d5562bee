"""The chaos run's outputs: the terminal table, ``results.json``, and the markdown summary ``CHAOS.md``.

Every run writes ``results.json`` and ``CHAOS.md`` into its ``--out`` folder.
A complete full run (``make chaos``: every scenario, full size) also keeps its
results file as ``benchmarks/chaos/results-<wait mode>[-wide].json`` and rewrites
``benchmarks/CHAOS.md`` from every results file kept there, one section per
wait mode and item layout: so the checked-in figures are always a run's own, with its date,
duration, machine and load, never copied by hand.

One list of columns serves the terminal and the markdown, so they cannot drift apart.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

from lease_ops.config.chalice_apps import REPOSITORY_ROOT

RECORD_DIR = REPOSITORY_ROOT / "benchmarks" / "chaos"  # the results files of the last complete runs, per wait mode
SUMMARY = REPOSITORY_ROOT / "benchmarks" / "CHAOS.md"
MODE_ORDER = ("poll", "handoff")

CLOCK = (
    "virtual: workflow time moves only while every thread of the emulated world waits on the clock, so time "
    "spent waiting for the emulator or the CPU is not workflow time, and the workflow scenarios' outcomes do not "
    "depend on the machine's speed or load (concurrency-at-scale races threads on the wall clock: its counts "
    "measure activity, not outcomes)"
)


def outcomes_text(row: dict[str, Any]) -> str:
    """``failed 15 (Sandbox.Timedout 15), succeeded 69``: every outcome, and why the failed ones failed."""
    errors = row.get("failure_errors") or {}
    parts = []
    for key, value in sorted(row["outcomes"].items()):
        part = f"{key.lower().replace('_', ' ')} {value}"
        if key == "FAILED" and errors:
            part += " (" + ", ".join(f"{error} {n}" for error, n in sorted(errors.items())) + ")"
        parts.append(part)
    return ", ".join(parts)


def _seconds(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda row: "-" if row.get(key) is None else f"{row[key]:.0f}"


# (header, value, right-aligned)
COLUMNS: list[tuple[str, Callable[[dict[str, Any]], Any], bool]] = [
    ("scenario", lambda row: row["scenario"], False),
    ("fault", lambda row: row["fault"], False),
    ("runs", lambda row: row["runs"], True),
    ("faults injected", lambda row: row["faults_injected"], True),
    ("invariant checks", lambda row: row["invariant_checks"], True),
    ("violations", lambda row: row["invariant_violations"], True),
    ("outcomes", outcomes_text, False),
    ("workflow s", lambda row: "-" if not row.get("workflow_seconds") else f"{row['workflow_seconds']:.0f}", True),
    ("wall s", _seconds("seconds"), True),
]


TERMINAL_OMITS = ("fault",)  # too wide for a terminal; the scenario's name says it


def results_table(rows: list[dict[str, Any]]) -> Table:
    columns = [column for column in COLUMNS if column[0] not in TERMINAL_OMITS]
    table = Table(title="chaos scenarios", title_justify="left")
    for header, _, right in columns:
        table.add_column(
            header,
            justify="right" if right else "left",
            no_wrap=header == "scenario",
            max_width=10 if right else None,
        )
    for row in rows:
        table.add_row(*(str(value(row)) for _, value, _ in columns))
    return table


def mode_label(wait_modes: dict[str, str]) -> str:
    """``poll`` or ``handoff`` when every workflow waits that way, else ``mixed``."""
    modes = set(wait_modes.values())
    return modes.pop() if len(modes) == 1 else "mixed"


def run_label(document: dict[str, Any]) -> str:
    """The wait mode, and ``-wide`` for a run with every prefix in the wide item layout: one kept run each."""
    wide = document.get("item_layout") == "wide"
    return mode_label(document["wait_modes"]) + ("-wide" if wide else "")


def commit() -> str | None:
    """The checkout's commit, ``+`` if it has uncommitted changes; None outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPOSITORY_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def _load_text(document: dict[str, Any]) -> str:
    load = document.get("load") or {}
    parts = []
    if load.get("load_average_at_start") and load.get("load_average_at_end"):
        parts.append(
            f"load average {load['load_average_at_start'][0]:g} at the start, {load['load_average_at_end'][0]:g} "
            "at the end"
        )
    if load.get("busy_share") is not None:
        parts.append(
            f"CPUs {load['busy_share']:.0%} busy over the run ({load['other_busy_share']:.0%} of the machine's "
            "CPU time by other work than this run)"
        )
    return "; ".join(parts) or "load not measured"


def section(document: dict[str, Any]) -> str:
    """One run's section of the summary: where and how it ran, then its table."""
    machine = document.get("machine") or {}
    cpu = f" ({machine['cpu_model']})" if machine.get("cpu_model") else ""
    revision = f", commit `{document['commit']}`" if document.get("commit") else ""
    lines = [
        f"## {mode_label(document['wait_modes'])} mode"
        + (", wide item layout" if document.get("item_layout") == "wide" else ""),
        "",
        f"`{document['command']}`, started {document['started_at']}{revision}: **{document['seconds']:.0f} s** "
        f"on a {machine.get('cpus', '?')}-core {machine.get('system', '?')} machine{cpu}, Python "
        f"{machine.get('python', '?')}; {_load_text(document)}. "
        f"{document['size']['executions_total']} executions per workflow scenario, seed {document['seed']}.",
        "",
        "| " + " | ".join(header for header, _, _ in COLUMNS) + " |",
        "| " + " | ".join("---:" if right else "---" for _, _, right in COLUMNS) + " |",
    ]
    for row in document["scenarios"]:
        cells = [f"`{row['scenario']}`", *(str(value(row)) for _, value, _ in COLUMNS[1:])]
        lines.append("| " + " | ".join(cells) + " |")
    violations = sum(row["invariant_violations"] for row in document["scenarios"])
    timeouts = sum(row.get("failure_errors", {}).get("States.Timeout", 0) for row in document["scenarios"])
    lines += ["", f"Invariant violations: {violations}. Executions failed by `States.Timeout`: {timeouts}.", ""]
    return "\n".join(lines)


def summary(documents: list[dict[str, Any]]) -> str:
    head = [
        "# Chaos results",
        "",
        "Generated by `make chaos` (`python -m lease_ops chaos`) from the results files of its last complete "
        "runs, one per wait mode and item layout, in `benchmarks/chaos/`; every figure below is a run's own. "
        'Do not edit: run `make chaos` and `make chaos ARGS="--wait-mode handoff"` again, each also with '
        "`--item-layout wide` (every prefix in the wide layout that caps above 100 take).",
        "",
        f"Workflow time is {CLOCK}. *workflow s*: from a scenario's start to its last execution's end, in "
        "workflow time; *wall s*: what the machine took.",
        "",
    ]
    return "\n".join(head) + "\n" + "\n".join(section(document) for document in documents)


def _mode_key(document: dict[str, Any]) -> tuple[bool, int, str]:
    mode = mode_label(document["wait_modes"])
    wide = document.get("item_layout") == "wide"
    return (wide, MODE_ORDER.index(mode) if mode in MODE_ORDER else len(MODE_ORDER), mode)


def write_outputs(out: Path, document: dict[str, Any], *, record_dir: Path | None, summary_path: Path) -> list[Path]:
    """Write the run's results file and summary into ``out``; with ``record_dir``, keep the run there too and
    rewrite ``summary_path`` from every run kept. Returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2) + "\n"
    (out / "results.json").write_text(text)
    (out / "CHAOS.md").write_text(summary([document]))
    written = [out / "results.json", out / "CHAOS.md"]
    if record_dir is not None:
        record_dir.mkdir(parents=True, exist_ok=True)
        kept = record_dir / f"results-{run_label(document)}.json"
        kept.write_text(text)
        documents = sorted((json.loads(path.read_text()) for path in record_dir.glob("results-*.json")), key=_mode_key)
        summary_path.write_text(summary(documents))
        written += [kept, summary_path]
    return written
