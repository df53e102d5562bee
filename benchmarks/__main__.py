"""`python -m benchmarks` (what `make bench` runs): every design, every scenario, one run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from rich.console import Console

from benchmarks.report import write_outputs
from benchmarks.suite import FULL, QUICK, run_benchmark

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m benchmarks",
        description="Benchmark this project's lease core against count-then-put and counter-and-owner, in one run.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small run (the tests use it); RESULTS.md is not rewritten"
    )
    parser.add_argument("--out", type=Path, default=Path("out/bench"), help="results folder (default: out/bench)")
    parser.add_argument("--seed", type=int, default=1, help="seed of holds and inputs (default 1)")
    arguments = parser.parse_args(argv)
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    document = run_benchmark(QUICK if arguments.quick else FULL, console, seed=arguments.seed)
    results_md = arguments.out / "RESULTS.md" if arguments.quick else RESULTS_MD
    write_outputs(
        document, arguments.out, results_md, "make bench" if not arguments.quick else "make bench ARGS=--quick", console
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
