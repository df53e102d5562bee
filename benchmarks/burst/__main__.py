"""``python -m benchmarks.burst``: the burst benchmark of issue 14, in simulated time; writes BURST.md and JSON."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from benchmarks.burst.designs import COUNT_THEN_PUT, COUNTER_OWNER, LEASE_CORE
from benchmarks.burst.report import (
    CHECKED_IN_MD,
    READ_PRICE_PER_MILLION,
    WRITE_PRICE_PER_MILLION,
    evaluate_targets,
    prefix_rows,
    write_outputs,
)
from benchmarks.burst.scenarios import MIX_CAPS, PrefixPlan, RunPlan, mix_prefixes, run_plan

RUNS = {
    "lease-core-poll": (LEASE_CORE, "poll"),
    "lease-core-handoff": (LEASE_CORE, "handoff"),
    COUNT_THEN_PUT: (COUNT_THEN_PUT, "poll"),
    COUNTER_OWNER: (COUNTER_OWNER, "poll"),
}
# Issue 14's sizes, and --quick's: small enough for well under a minute on 2 cores (moto answers a request in
# 5-10 ms of CPU), arriving at about the full burst's rate (10,000 in 60 s), the mix's caps a tenth of its own.
FULL: dict[str, Any] = {
    "executions": 10_000,
    "cap": 100,
    "arrival_seconds": 60.0,
    "mix_executions": 10_000,
    "mix_caps": MIX_CAPS,
}
QUICK: dict[str, Any] = {
    "executions": 30,
    "cap": 10,
    "arrival_seconds": 0.2,
    "mix_executions": 102,
    "mix_caps": (1, 2, 5, 10, 50),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m benchmarks.burst",
        description="Simulate a burst of Step Functions executions against this project's lease core (both wait "
        "modes) and the two baselines, on a DynamoDB model that throttles partitions, refuses items over 400 KB and "
        "raises TransactionConflict; report issue 14's figures and targets.",
    )
    parser.add_argument("--executions", type=int, help="executions of the one-prefix burst (10,000)")
    parser.add_argument("--cap", type=int, help="cap of the one-prefix burst (100)")
    parser.add_argument(
        "--mix-executions",
        type=int,
        help="executions of the regional mix, split over its caps in proportion to them (10,000)",
    )
    parser.add_argument(
        "--mix-caps",
        type=_caps,
        help=f"caps of the regional mix's prefixes, comma-separated ({','.join(map(str, MIX_CAPS))})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a small run: {QUICK['executions']} executions, cap {QUICK['cap']}, arriving within "
        f"{QUICK['arrival_seconds']:g} s; mix {QUICK['mix_executions']} executions over caps "
        f"{','.join(map(str, QUICK['mix_caps']))}",
    )
    parser.add_argument("--scenarios", default="burst,mix", help="burst and/or mix (default: both)")
    parser.add_argument(
        "--runs",
        default=",".join(RUNS),
        help=f"which designs of the burst: any of {', '.join(RUNS)} (default: all; the mix runs this core only)",
    )
    parser.add_argument("--arrival-seconds", type=float, help="executions start within this (60 s)")
    parser.add_argument(
        "--process-seconds", type=float, nargs=2, default=(30.0, 120.0), metavar=("MIN", "MAX"), help="(30 120)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of arrivals, Process times and latencies (1)")
    parser.add_argument(
        "--max-simulated-hours", type=float, default=12.0, help="stop a run after this much simulated time (12)"
    )
    parser.add_argument(
        "--write-price", type=float, default=WRITE_PRICE_PER_MILLION, help="$ per million WRU (us-east-1: 0.625)"
    )
    parser.add_argument(
        "--read-price", type=float, default=READ_PRICE_PER_MILLION, help="$ per million RRU (us-east-1: 0.125)"
    )
    parser.add_argument("--out", type=Path, default=Path("out/bench/burst"), help="JSON folder (out/bench/burst)")
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help="where BURST.md goes (benchmarks/BURST.md for a run at issue 14's sizes, else into --out)",
    )
    parser.add_argument("--scale-note", default="", help="why the run is smaller than issue 14's (for BURST.md)")
    return parser


def _caps(text: str) -> tuple[int, ...]:
    try:
        caps = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"caps must be comma-separated whole numbers, got {text!r}") from None
    if not caps or min(caps) < 1:
        raise argparse.ArgumentTypeError(f"caps must be at least 1, got {text!r}")
    return caps


def plans(arguments: argparse.Namespace) -> list[RunPlan]:
    common: dict[str, Any] = {
        "arrival_seconds": arguments.arrival_seconds,
        "process_seconds": tuple(arguments.process_seconds),
        "seed": arguments.seed,
        "max_simulated_seconds": arguments.max_simulated_hours * 3600,
    }
    scenarios = {name.strip() for name in arguments.scenarios.split(",") if name.strip()}
    runs = [name.strip() for name in arguments.runs.split(",") if name.strip()]
    unknown = sorted((scenarios - {"burst", "mix"}) | (set(runs) - set(RUNS)))
    if unknown:
        parser().error(f"unknown scenario or run {unknown}")
    chosen = []
    if "burst" in scenarios:
        prefix = (PrefixPlan("burst", arguments.cap, arguments.executions),)
        chosen += [RunPlan("burst", *RUNS[name], prefix, **common) for name in runs]
    if "mix" in scenarios:
        prefixes = mix_prefixes(arguments.mix_executions, arguments.mix_caps)
        chosen += [
            RunPlan("mix", LEASE_CORE, mode, prefixes, **common)
            for mode in ("poll", "handoff")
            if f"lease-core-{mode}" in runs
        ]
    return chosen


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    sizes = QUICK if arguments.quick else FULL
    for name, value in sizes.items():
        if getattr(arguments, name) is None:
            setattr(arguments, name, value)
    low, high = arguments.process_seconds
    if arguments.executions < 1 or arguments.cap < 1 or arguments.mix_executions < 1:
        parser().error("--executions, --cap and --mix-executions must be at least 1")
    if arguments.arrival_seconds < 0 or not 0 < low <= high:
        parser().error("--arrival-seconds must be at least 0, and --process-seconds MIN MAX with 0 < MIN <= MAX")
    full = all(getattr(arguments, name) == value for name, value in FULL.items())
    markdown = arguments.markdown or (CHECKED_IN_MD if full else arguments.out / "BURST.md")
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    started = time.monotonic()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    results = []
    for plan in plans(arguments):
        console.print(f"{plan.label}: {plan.executions:,} executions")
        results.append(run_plan(plan, progress=console.print))
    rows = prefix_rows(results, arguments.write_price, arguments.read_price)
    command = "python -m benchmarks.burst" + ("" if argv is None and len(sys.argv) <= 1 else " ")
    command += shlex.join(argv if argv is not None else sys.argv[1:])
    document = {
        "meta": {
            "command": command.strip(),
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "wall_seconds": time.monotonic() - started,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "system": f"{platform.system()} {platform.machine()}",
                "load_average": f"{load[0]:.1f}",
            },
            "scale": {
                "burst_executions": arguments.executions,
                "burst_cap": arguments.cap,
                "arrival_seconds": arguments.arrival_seconds,
                "mix_executions": arguments.mix_executions,
                "mix_caps": list(arguments.mix_caps),
                "full": full,
                "why": arguments.scale_note or ("--quick" if arguments.quick else "a smaller run was asked for."),
            },
        },
        "prices": {"write": arguments.write_price, "read": arguments.read_price},
        "runs": results,
        "rows": rows,
        "targets": evaluate_targets(rows),
    }
    written = write_outputs(document, arguments.out, markdown)
    console.print("wrote " + ", ".join(str(path) for path in written))
    for target in document["targets"]:
        console.print(
            f"  {target['mode']}: {target['target']}: {'met' if target['met'] else 'MISSED'} ({target['measured']})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
