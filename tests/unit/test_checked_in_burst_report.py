"""The checked-in burst report is what its JSON renders to, and benchmarks/RESULTS.md shows its targets as
they are: no figure of either file is edited by hand, and neither goes stale without the other."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks.burst.report import CHECKED_IN_MD, RESULTS_MD, evaluate_targets, render_markdown, results_section


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return json.loads(CHECKED_IN_MD.with_suffix(".json").read_text())


def test_the_checked_in_burst_report_is_its_json_rendered(report: dict[str, Any]) -> None:
    assert CHECKED_IN_MD.read_text() == render_markdown(report) + "\n"


def test_the_checked_in_burst_targets_are_evaluated_from_its_own_rows(report: dict[str, Any]) -> None:
    assert report["targets"] == evaluate_targets(report["rows"])


def test_benchmark_results_show_the_burst_targets_of_the_checked_in_report(report: dict[str, Any]) -> None:
    assert results_section(report) in RESULTS_MD.read_text()


def test_the_checked_in_burst_report_is_at_issue_14s_sizes_with_both_scenarios_and_both_baselines(
    report: dict[str, Any],
) -> None:
    runs = {(run["scenario"], run["design"], run["wait_mode"]) for run in report["runs"]}

    assert report["meta"]["scale"]["full"] is True
    assert {
        ("burst", "lease-core", "poll"),
        ("burst", "lease-core", "handoff"),
        ("mix", "lease-core", "poll"),
        ("mix", "lease-core", "handoff"),
        ("burst", "count-then-put", "poll"),
        ("burst", "counter-and-owner", "poll"),
    } <= runs
