"""The README's "Measured" summary says what benchmarks/RESULTS.md says, missed targets by name and figure."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.readme_targets import (
    CHECKED_IN_RESULTS,
    README,
    SECTION_END,
    SECTION_START,
    readme_section,
    target_rows,
    update_readme,
    with_readme_section,
)

RESULTS_WITH_A_MISS = """# Benchmark results

## Targets (this project)

| target | met | measured |
| --- | --- | --- |
| zero over-admission in every scenario | yes | most holders over the cap: 0 |
| at most 10 WCU per cycle at cap 1,000 | **no** | 14 WCU per cycle with 999 other holders |

## Contention

| design | threads | cap |
| --- | --- | --- |
| lease-core | 8 | 5 |

## Targets of a region's burst (simulated time)

| mode | target | met | measured |
| --- | --- | --- | --- |
| poll | no execution fails | yes | burst: 0 of 10,000 failed closed |
| handoff | zero lost wakeups | **no** | lost wakeups: 1 (longest free slot: 8.18 s) |
"""


def test_the_readme_summary_is_what_the_checked_in_results_say() -> None:
    assert readme_section(CHECKED_IN_RESULTS.read_text()) in README.read_text()


def test_the_summary_counts_both_target_tables_of_the_results() -> None:
    results = CHECKED_IN_RESULTS.read_text()

    assert len(target_rows(results, "| target | met | measured |")) >= 10
    assert len(target_rows(results, "| mode | target | met | measured |")) >= 10


def test_a_missed_target_is_counted_and_named_with_its_figure() -> None:
    section = readme_section(RESULTS_WITH_A_MISS)

    assert "**1 of 2** `make bench` targets" in section
    assert "**1 of 2** burst targets" in section
    assert "- at most 10 WCU per cycle at cap 1,000 (missed): 14 WCU per cycle with 999 other holders" in section
    assert "- handoff: zero lost wakeups (missed): lost wakeups: 1 (longest free slot: 8.18 s)" in section
    assert "None is missed" not in section


def test_the_summary_replaces_only_its_own_section() -> None:
    readme = f"# Title\n\nbefore\n\n{SECTION_START}\nstale\n{SECTION_END}\n\nafter\n"

    rewritten = with_readme_section(readme, RESULTS_WITH_A_MISS)

    assert rewritten.startswith("# Title\n\nbefore\n\n") and rewritten.endswith("\n\nafter\n")
    assert "stale" not in rewritten and "(missed)" in rewritten


def test_a_readme_without_the_section_is_refused_rather_than_written_half() -> None:
    with pytest.raises(ValueError, match=r"no .* section"):
        with_readme_section("# Title\n", RESULTS_WITH_A_MISS)


def test_a_quick_runs_results_leave_the_readme_alone(tmp_path: Path) -> None:
    results, readme = tmp_path / "RESULTS.md", tmp_path / "README.md"
    results.write_text(RESULTS_WITH_A_MISS)
    readme.write_text(f"{SECTION_START}\nkept\n{SECTION_END}\n")

    assert update_readme(results, readme) == []
    assert "kept" in readme.read_text()
