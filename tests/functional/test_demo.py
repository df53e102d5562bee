"""`make demo` end to end, small and fast: the report, the plot and its own check, failure injection, and that it
can fail."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from lease_core import LeaseSemaphore, LeaseSnapshot, item_layout
from lease_ops.config.chalice_apps import REPOSITORY_ROOT
from lease_ops.config.platform_config import load_platform_config
from lease_ops.demo import monitor, run
from lease_ops.demo.timeline_check import unleased_steps
from tests.ops import run_ops

PLATFORM = REPOSITORY_ROOT / "platform.toml"
SMALL = ["--executions", "analytics=24", "--executions", "batch=10", "--time-scale", "40"]


def demo(capsys: pytest.CaptureFixture[str], out: Path, *arguments: str):  # type: ignore[no-untyped-def]
    outcome = run_ops(capsys, PLATFORM, "demo", *SMALL, "--out", str(out), *arguments)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else None
    return outcome, report


def plotted_series(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the demo hands to its plot, kept for the test to look at."""
    kept: dict[str, Any] = {}
    plot = run.plot_timeline

    def keep(path: Path, caps: dict[str, int], holder_samples: list, process_samples: list, time_scale: float) -> None:
        kept.update(holder_samples=list(holder_samples), process_samples=list(process_samples))
        plot(path, caps, holder_samples, process_samples, time_scale)

    monkeypatch.setattr(run, "plot_timeline", keep)
    return kept


@pytest.mark.slow
def test_a_small_demo_reaches_both_caps_never_exceeds_them_and_leaves_no_lease(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plotted = plotted_series(monkeypatch)

    outcome, report = demo(capsys, tmp_path)

    assert outcome.exit_code == 0, outcome.err
    assert set(report["workflows"]) == {"analytics", "batch"}
    analytics, batch = report["workflows"]["analytics"], report["workflows"]["batch"]
    assert (analytics["cap"], analytics["executions"], analytics["succeeded"]) == (15, 24, 24)
    assert (batch["cap"], batch["executions"], batch["succeeded"]) == (5, 10, 10)
    assert analytics["max_concurrent"] == 15 and batch["max_concurrent"] == 5
    assert analytics["wait_polls"] > 0 and batch["wait_polls"] > 0
    assert 0 <= analytics["p50_wait_s"] <= analytics["p95_wait_s"]
    assert report["leaked_holders"] == 0 and report["duration_s"] > 0
    assert (tmp_path / "timeline.png").read_bytes().startswith(b"\x89PNG")
    assert "analytics: cap 15 reached, never exceeded" in outcome.out
    # The plotted series pass the demo's own check, which has teeth on them: a read lower by one fails it.
    reads, steps = plotted["holder_samples"], plotted["process_samples"]
    assert {s.prefix for s in reads} == {"analytics", "batch"} and len(steps) >= 2 * (24 + 10)
    assert unleased_steps(reads, steps) == []
    lower = [dataclasses.replace(s, holders=s.holders - 1) for s in reads]
    assert {finding.read.prefix for finding in unleased_steps(lower, steps)} == {"analytics", "batch"}


@pytest.mark.slow
def test_the_demo_fails_when_its_timeline_would_show_process_steps_above_the_holders(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class OneHolderMissed(LeaseSemaphore):
        """The sampler's reads miss one holder: the plot would show a step running without its lease."""

        def inspect(self) -> LeaseSnapshot:
            snapshot = super().inspect()
            return dataclasses.replace(snapshot, holders=dict(list(snapshot.holders.items())[1:]))

    monkeypatch.setattr(monitor, "LeaseSemaphore", OneHolderMissed)

    outcome, report = demo(capsys, tmp_path)

    assert outcome.exit_code == 1
    assert outcome.err.count("\n") == 1 and "the timeline draws at least" in outcome.err
    assert "analytics: from " in outcome.err or "analytics: at " in outcome.err
    assert report["leaked_holders"] == 0 and (tmp_path / "timeline.png").exists()


@pytest.mark.slow
def test_injected_process_failures_release_their_leases_through_the_failure_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outcome, report = demo(capsys, tmp_path, "--fail-fraction", "0.3", "--seed", "5")

    assert outcome.exit_code == 0, outcome.err
    for summary in report["workflows"].values():
        assert summary["failures_injected"] > 0
        assert summary["failed"] == summary["failures_injected"]
        assert summary["succeeded"] == summary["executions"] - summary["failed"]
    assert report["leaked_holders"] == 0


@pytest.mark.slow
def test_in_handoff_mode_nothing_polls_fewer_steps_run_and_no_lease_or_waiter_is_left(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The demo runs on the wall clock, 40x faster by default: under a loaded test run a hand-over chain's
    # requests then take long enough, in workflow time, that batch's 10 executions rarely overlap 5 at
    # once (measured: "at most 3" with two busy loops beside it). At 20x they still do.
    slower = ("--time-scale", "20")
    _, polled = demo(capsys, tmp_path / "poll", "--wait-mode", "poll", "--fail-fraction", "0.2", *slower)
    outcome, report = demo(capsys, tmp_path / "handoff", "--wait-mode", "handoff", "--fail-fraction", "0.2", *slower)

    assert outcome.exit_code == 0, outcome.err
    for name, summary in report["workflows"].items():
        assert summary["wait_mode"] == "handoff" and summary["wait_polls"] == 0
        assert summary["max_concurrent"] == summary["cap"]
        assert summary["failed"] == summary["failures_injected"]
        assert summary["transitions_per_run"] < polled["workflows"][name]["transitions_per_run"]
    assert (report["leaked_holders"], report["waiters_left"]) == (0, 0)


@pytest.mark.slow
def test_the_demo_fails_when_a_broken_core_lets_more_than_the_cap_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(item_layout, "ADMISSION_CONDITION", item_layout.ADMISSION_CONDITION.replace("<", "<="))

    outcome, report = demo(capsys, tmp_path)

    assert outcome.exit_code == 1
    assert "over the cap" in outcome.err
    assert report["workflows"]["batch"]["max_concurrent"] == 6


def test_a_bad_demo_option_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    unknown = run_ops(capsys, PLATFORM, "demo", "--executions", "reporting=3", "--out", str(tmp_path))

    assert unknown.exit_code == 2
    known = ", ".join(sorted(load_platform_config().workloads))
    assert unknown.err == f"error: unknown workload 'reporting'; platform.toml defines {known}\n"
    with pytest.raises(SystemExit) as bad_fraction:
        run_ops(capsys, PLATFORM, "demo", "--fail-fraction", "1.5")
    assert bad_fraction.value.code == 2
    assert "expected a number from 0 to 1" in capsys.readouterr().err
