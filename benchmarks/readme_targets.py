"""The README's "Measured" summary, written from benchmarks/RESULTS.md whenever that file is rewritten.

The README shows how many targets the last runs met and names every missed one with its figure; RESULTS.md
keeps each target's full row. Reading the summary from RESULTS.md's own target tables (which this package
writes) keeps the two from disagreeing, whichever command (`make bench`, `make burst`, the burst combiner)
rewrote RESULTS.md last.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
CHECKED_IN_RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION_START = "<!-- targets: written from benchmarks/RESULTS.md by make bench and make burst -->"
SECTION_END = "<!-- end of targets -->"
BENCH_HEADER = "| target | met | measured |"
BURST_HEADER = "| mode | target | met | measured |"


@dataclass(frozen=True)
class TargetRow:
    target: str
    met: bool
    measured: str


def target_rows(results_md: str, header: str) -> list[TargetRow]:
    """The rows of the RESULTS.md target table that starts with ``header`` (its last three cells)."""
    lines = results_md.splitlines()
    if header not in lines:
        return []
    rows = []
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        *names, met, measured = cells[: len(header.strip("|").split("|"))]
        rows.append(TargetRow(": ".join(names), met == "yes", measured))
    return rows


def readme_section(results_md: str) -> str:
    """The README's summary of ``results_md``'s targets: counts met, and every missed target with its figure."""
    bench, burst = target_rows(results_md, BENCH_HEADER), target_rows(results_md, BURST_HEADER)
    missed = [row for row in bench + burst if not row.met]
    lines = [
        SECTION_START,
        f"In the last runs, **{sum(r.met for r in bench)} of {len(bench)}** `make bench` targets and "
        f"**{sum(r.met for r in burst)} of {len(burst)}** burst targets (`make burst`, simulated time) are met; "
        "[benchmarks/RESULTS.md](benchmarks/RESULTS.md) gives each with its figure and the command that measured it."
        + (" Missed:" if missed else " None is missed."),
    ]
    lines += [f"- {row.target} (missed): {row.measured}" for row in missed]
    return "\n".join([*lines, SECTION_END])


def with_readme_section(readme: str, results_md: str) -> str:
    """The README's text with its targets summary replaced by ``results_md``'s."""
    start, end = readme.find(SECTION_START), readme.find(SECTION_END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no {SECTION_START!r} ... {SECTION_END!r} section to write")
    return readme[:start] + readme_section(results_md) + readme[end + len(SECTION_END) :]


def update_readme(results_md_path: Path, readme_path: Path = README) -> list[Path]:
    """Rewrite the README's summary from the RESULTS.md just written, if that is the checked-in one (a quick
    run's RESULTS.md under out/ leaves the README alone); returns what it wrote."""
    if results_md_path.resolve() != CHECKED_IN_RESULTS:
        return []
    readme_path.write_text(with_readme_section(readme_path.read_text(), results_md_path.read_text()))
    return [readme_path]
