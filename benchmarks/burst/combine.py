"""``python -m benchmarks.burst.combine``: one burst report from runs made one by one.

A run at issue 14's sizes takes about an hour per design on 2 cores, so the runs of one report are made side
by side, each with its own ``--runs``/``--scenarios`` and ``--out``. This merges their ``results.json`` into the
one report the issue asks for (every design and wait mode in the same tables, the baselines beside this core),
with the targets evaluated over the merged rows exactly as one run's are. It refuses to merge runs that were
not made at the same sizes, seed and prices, or that measured the same design twice: such a report would put
figures of different experiments side by side. Runs may have different horizons (``--max-simulated-hours``): a
slow design can be stopped early, its executions not ended by then counted as unfinished, and the report says
for each run how far it got and whether its horizon stopped it.

Given a report it wrote before (``benchmarks/BURST.json``), it renders that report again.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
from pathlib import Path
from typing import Any, NoReturn

from benchmarks.burst.report import evaluate_targets, publish

# What must be equal for two runs to share a report: their plan (sizes, seed, Process times) and prices; not
# their horizon (a run stopped by its own says so, and counts what had not ended as unfinished).
_SAME_PLAN_FIELDS = ("arrival_seconds", "process_seconds", "seed")
_SAME_SCALE_FIELDS = ("burst_executions", "burst_cap", "arrival_seconds", "mix_executions", "mix_caps", "full")


class RunsDoNotCombine(ValueError):
    """The given results files cannot share one report (unreadable, different sizes, or a design twice)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m benchmarks.burst.combine",
        description="Merge the results.json of burst runs made one by one (python -m benchmarks.burst --runs ... "
        "--out ...) into one report: BURST.md, its JSON beside it, and the burst targets in benchmarks/RESULTS.md "
        "when the report is the checked-in one.",
    )
    parser.add_argument("results", nargs="+", type=Path, help="results.json files of the runs (or a combined JSON)")
    parser.add_argument(
        "--markdown",
        type=Path,
        required=True,
        help="where the report goes (benchmarks/BURST.md for the checked-in one); its JSON goes beside it",
    )
    return parser


def _load(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RunsDoNotCombine(f"{path}: not a readable results file ({error})") from None
    if not isinstance(document, dict) or not {"meta", "prices", "runs", "rows"} <= document.keys():
        raise RunsDoNotCombine(f"{path}: not a burst results file (no meta, prices, runs and rows)")
    return document


def _sources(document: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    meta = document["meta"]
    return list(meta["sources"]) if "sources" in meta else [{**meta, "results": str(path)}]


def combine(paths: list[Path], command: str) -> dict[str, Any]:
    """The merged document of the given results files, or RunsDoNotCombine saying why not."""
    documents = [(path, _load(path)) for path in paths]
    first_path, first = documents[0]
    seen: dict[tuple[str, str, str], Path] = {}
    for path, document in documents:
        if document["prices"] != first["prices"]:
            raise RunsDoNotCombine(f"{path} was priced {document['prices']}, {first_path} {first['prices']}")
        scale = {name: document["meta"]["scale"][name] for name in _SAME_SCALE_FIELDS}
        first_scale = {name: first["meta"]["scale"][name] for name in _SAME_SCALE_FIELDS}
        if scale != first_scale:
            raise RunsDoNotCombine(f"{path} was run at {scale}, {first_path} at {first_scale}")
        for run in document["runs"]:
            plan = {name: run["plan"][name] for name in _SAME_PLAN_FIELDS}
            first_plan = {name: first["runs"][0]["plan"][name] for name in _SAME_PLAN_FIELDS}
            if plan != first_plan:
                raise RunsDoNotCombine(f"{path}: {run['label']} was run with {plan}, {first_path} with {first_plan}")
            key = (run["scenario"], run["design"], run["wait_mode"])
            if key in seen:
                raise RunsDoNotCombine(f"{run['label']} is in both {seen[key]} and {path}")
            seen[key] = path
    rows = [row for _, document in documents for row in document["rows"]]
    sources = [source for path, document in documents for source in _sources(document, path)]
    return {
        "meta": {
            "command": command,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "wall_seconds": sum(source["wall_seconds"] for source in sources),
            "machine": first["meta"]["machine"],
            "scale": first["meta"]["scale"],
            "sources": sources,
        },
        "prices": first["prices"],
        "runs": [run for _, document in documents for run in document["runs"]],
        "rows": rows,
        "targets": evaluate_targets(rows),
    }


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks.burst.combine", *(sys.argv[1:] if argv is None else argv)])
    try:
        document = combine(arguments.results, command)
    except RunsDoNotCombine as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    written = publish(document, arguments.markdown)
    print("wrote " + ", ".join(str(path) for path in written))
    for target in document["targets"]:
        print(f"  {target['mode']}: {target['target']}: {'met' if target['met'] else 'MISSED'} ({target['measured']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
