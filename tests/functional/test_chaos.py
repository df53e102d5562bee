"""The chaos suite, short: every fault scenario runs, injects faults and finds zero invariant violations.

And the suite can fail: with a cleanup that frees an aborted execution's lease at once or too early,
or an admission that lets one too many in, it reports violations, on the virtual clock as on the
wall clock. Its outcomes do not depend on the machine: CPU hogs change how long a scenario takes,
not what happens in it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from lease_core import LeaseSemaphore, execution_cleanup, item_layout, process_guard
from lease_ops.chaos import suite
from lease_ops.chaos.machine import cpu_hog
from lease_ops.chaos.report import write_outputs
from lease_ops.chaos.scale_scenario import run_scale_scenario
from lease_ops.chaos.suite import SCENARIO_NAMES
from lease_ops.chaos.workflow_scenarios import WORKFLOW_SCENARIOS, ScenarioResult, run_workflow_scenario
from lease_ops.config.chalice_apps import REPOSITORY_ROOT
from lease_ops.config.platform_config import load_platform_config
from tests.ops import run_ops


@pytest.mark.slow
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_every_scenario_of_the_quick_chaos_run_injects_faults_and_violates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    # One scenario per test, so that the workers share the quick run out between them.
    outcome = run_ops(
        capsys, REPOSITORY_ROOT / "platform.toml", "chaos", "--quick", "--scenario", name, "--out", str(tmp_path)
    )
    results = json.loads((tmp_path / "results.json").read_text())

    assert outcome.exit_code == 0, outcome.err
    [scenario] = results["scenarios"]
    assert scenario["scenario"] == name
    assert scenario["runs"] > 0, scenario
    assert scenario["faults_injected"] > 0, scenario
    # Workflow scenarios check the table after every state; the scale scenario samples it continuously.
    floor = 10 if name == "concurrency-at-scale" else scenario["runs"]
    assert scenario["invariant_checks"] > floor, scenario
    assert scenario["invariant_violations"] == 0, scenario["violations"]
    # Every failed execution says why; the ones of process-timeout failed by their timeout.
    assert sum(scenario["failure_errors"].values()) == scenario["outcomes"].get("FAILED", 0), scenario
    # Workflow time is virtual: no task takes longer than it works, so nothing times out but on purpose.
    assert "States.Timeout" not in scenario["failure_errors"], scenario
    if name == "process-timeout":
        # A Process that overruns is stopped by its Lambda timeout, 10 s before Step Functions would give up on it.
        assert set(scenario["failure_errors"]) == {"Sandbox.Timedout"}
    assert "violations" in outcome.out and name in outcome.out
    # The results file says how long the run took, on what machine, under what load.
    assert results["seconds"] > 0 and results["machine"]["cpus"] >= 1
    assert {"load_average_at_start", "busy_share", "other_busy_share"} <= set(results["load"])
    assert results["clock"].startswith("virtual")
    assert results["command"].startswith("python -m lease_ops chaos --quick")
    assert results["command"].endswith(f"--scenario {name}")
    assert f"**{results['seconds']:.0f} s**" in (tmp_path / "CHAOS.md").read_text()


def test_a_chaos_run_without_a_scenario_named_runs_every_scenario_in_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What each scenario finds is the test above's; here only which ones run, in what order.
    ran: list[str] = []

    def workflow_scenario(scenario: Any, *_: Any, **__: Any) -> ScenarioResult:
        ran.append(scenario.name)
        return ScenarioResult(scenario.name, scenario.fault, runs=1, faults_injected=1)

    def scale_scenario(**_: Any) -> ScenarioResult:
        ran.append("concurrency-at-scale")
        return ScenarioResult("concurrency-at-scale", "threads", runs=1, faults_injected=1)

    monkeypatch.setattr(suite, "run_workflow_scenario", workflow_scenario)
    monkeypatch.setattr(suite, "run_scale_scenario", scale_scenario)

    outcome = run_ops(capsys, REPOSITORY_ROOT / "platform.toml", "chaos", "--quick", "--out", str(tmp_path))
    results = json.loads((tmp_path / "results.json").read_text())

    assert outcome.exit_code == 0, outcome.err
    assert ran == SCENARIO_NAMES
    assert [s["scenario"] for s in results["scenarios"]] == SCENARIO_NAMES


def test_the_summary_has_one_section_per_wait_mode_and_item_layout_from_the_results_files_kept(tmp_path: Path) -> None:
    run = {
        "command": "python -m lease_ops chaos --wait-mode poll",
        "started_at": "2025-01-02T03:04:05Z",
        "seconds": 512.4,
        "machine": {"cpus": 2, "cpu_model": "Some CPU", "system": "Linux x86_64", "python": "3.11.7"},
        "load": {
            "load_average_at_start": [0.1, 0.2, 0.3],
            "load_average_at_end": [1.9, 1.0, 0.5],
            "busy_share": 0.62,
            "other_busy_share": 0.05,
        },
        "commit": "abc1234",
        "seed": 1,
        "wait_modes": {"analytics": "poll", "batch": "poll"},
        "size": {"executions_total": 84},
        "scenarios": [
            {
                "scenario": "process-timeout",
                "fault": "20% of Process calls hit the Lambda timeout",
                "runs": 84,
                "faults_injected": 15,
                "invariant_checks": 3000,
                "invariant_violations": 0,
                "outcomes": {"SUCCEEDED": 69, "FAILED": 15},
                "failure_errors": {"Sandbox.Timedout": 15},
                "seconds": 40.2,
                "workflow_seconds": 612.0,
            }
        ],
    }
    handoff = {**run, "command": "python -m lease_ops chaos --wait-mode handoff", "seconds": 498.0}
    handoff["wait_modes"] = {"analytics": "handoff", "batch": "handoff"}

    wide = {**run, "command": "python -m lease_ops chaos --wait-mode poll --item-layout wide", "item_layout": "wide"}
    summary = tmp_path / "CHAOS.md"

    write_outputs(tmp_path / "wide", wide, record_dir=tmp_path / "kept", summary_path=summary)
    write_outputs(tmp_path / "handoff", handoff, record_dir=tmp_path / "kept", summary_path=summary)
    write_outputs(tmp_path / "poll", run, record_dir=tmp_path / "kept", summary_path=summary)
    text = summary.read_text()

    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == [
        "results-handoff.json",
        "results-poll-wide.json",
        "results-poll.json",
    ]
    assert text.index("## poll mode\n") < text.index("## handoff mode") < text.index("## poll mode, wide item layout")
    assert "**512 s** on a 2-core Linux x86_64 machine (Some CPU)" in text and "**498 s**" in text
    assert "load average 0.1 at the start, 1.9 at the end; CPUs 62% busy over the run (5% of the machine's" in text
    assert "| `process-timeout` | 20% of Process calls hit the Lambda timeout | 84 | 15 | 3000 | 0 |" in text
    assert "failed 15 (Sandbox.Timedout 15), succeeded 69 | 612 | 40 |" in text


HANDOFF_SENSITIVE = [
    "dynamodb-lost-responses",
    "lambda-crash-after-write",
    "abort-while-waiting",
    "abort-during-release",
    "redrive-after-abort",
]


# In the wide layout, where the answers lost are those of transactions on two items and more (make test's
# share of the time: `make chaos ARGS="--item-layout wide"` runs every scenario).
WIDE_SENSITIVE = ["dynamodb-lost-responses", "lambda-crash-after-write", "abort-during-release"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("layout_choice", "name"),
    [("by-cap", name) for name in HANDOFF_SENSITIVE] + [("wide", name) for name in WIDE_SENSITIVE],
)
def test_in_handoff_mode_lost_answers_crashes_and_aborts_leave_no_slot_or_waiter_behind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, layout_choice: str, name: str
) -> None:
    outcome = run_ops(
        capsys,
        REPOSITORY_ROOT / "platform.toml",
        "chaos",
        "--quick",
        "--wait-mode",
        "handoff",
        "--item-layout",
        layout_choice,
        "--scenario",
        name,
        "--out",
        str(tmp_path),
    )
    results = json.loads((tmp_path / "results.json").read_text())

    assert outcome.exit_code == 0, outcome.err
    assert results["wait_modes"] == {"analytics": "handoff", "batch": "handoff"}
    assert results["item_layout"] == layout_choice
    [scenario] = results["scenarios"]
    assert scenario["scenario"] == name
    assert scenario["faults_injected"] > 0 and scenario["invariant_violations"] == 0, scenario


@pytest.mark.slow
def test_the_suite_catches_a_cleanup_that_frees_an_aborted_executions_lease_while_its_task_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(execution_cleanup, "TASKS_MAY_OUTLIVE", frozenset())
    scenario = next(s for s in WORKFLOW_SCENARIOS if s.name == "abort-while-holding")

    result = run_workflow_scenario(scenario, load_platform_config(), executions={"analytics": 20, "batch": 8}, seed=3)

    assert any("ran without a lease" in violation for violation in result.violations), result.violations


@pytest.mark.slow
def test_the_suite_catches_a_cleanup_that_keeps_an_aborted_executions_lease_for_less_than_its_task_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Leases of a stopped execution kept 1 s instead of the Process timeout: expired on the scenario's clock
    # while the aborted execution's Process still works.
    configure_timings = LeaseSemaphore.configure_timings

    def one_second(self: LeaseSemaphore, *, task_seconds: int, lease_seconds: int) -> None:
        configure_timings(self, task_seconds=1, lease_seconds=lease_seconds)

    monkeypatch.setattr(LeaseSemaphore, "configure_timings", one_second)
    scenario = next(s for s in WORKFLOW_SCENARIOS if s.name == "abort-while-holding")

    result = run_workflow_scenario(scenario, load_platform_config(), executions={"analytics": 20, "batch": 8}, seed=3)

    assert any("ran without a lease (when it finished)" in v for v in result.violations), result.violations


@pytest.mark.slow
def test_on_the_virtual_clock_the_cap_monitor_still_catches_an_admission_that_lets_one_too_many_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(item_layout, "ADMISSION_CONDITION", item_layout.ADMISSION_CONDITION.replace("<", "<="))
    scenario = next(s for s in WORKFLOW_SCENARIOS if s.name == "abort-while-waiting")

    result = run_workflow_scenario(scenario, load_platform_config(), executions={"analytics": 20, "batch": 8}, seed=3)

    assert any("holders over the cap" in violation for violation in result.violations), result.violations


@pytest.mark.slow
def test_the_suite_catches_a_redriven_process_that_works_without_checking_its_runs_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # RedriveExecution restarts an execution aborted in Process straight at Process, under a new run
    # (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html): without its lease check
    # Process would work with no lease at all.
    def no_check(event: Any, *, for_seconds: float = 0) -> Any:
        return None, {key: value for key, value in event.items() if key != process_guard.LEASE_HOLDER_KEY}

    monkeypatch.setattr(process_guard, "held_lease", no_check)
    scenario = next(s for s in WORKFLOW_SCENARIOS if s.name == "redrive-after-abort")

    result = run_workflow_scenario(scenario, load_platform_config(), executions={"analytics": 10, "batch": 4}, seed=3)

    assert any("#1 ran without a lease (when it started)" in v for v in result.violations), result.violations
    assert result.outcomes.get("redriven", 0) > 0


def test_the_redrive_scenarios_redrive_every_execution_they_stop_and_end_them_all() -> None:
    scenario = next(s for s in WORKFLOW_SCENARIOS if s.name == "redrive-after-failure")

    result = run_workflow_scenario(scenario, load_platform_config(), executions={"analytics": 8, "batch": 4}, seed=2)

    assert result.violations == []
    # Each execution failed inside Process (past every Catch) was redriven once and then succeeded.
    assert result.outcomes == {"redriven": result.faults_injected, "SUCCEEDED": 12}, result.outcomes


@pytest.mark.slow
def test_the_suite_catches_a_hand_over_that_ignores_a_lowered_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    # The defect as it was: a release hands its slot to the oldest waiter whatever the (lowered) cap.
    write, update = LeaseSemaphore._write, LeaseSemaphore._update_action

    def release_ignoring_the_cap(self: LeaseSemaphore, update_: str, condition: str, *rest: Any, **options: Any) -> Any:
        lowered_cap_term = f"({item_layout.NOBODY_WAITING} OR size(#h) > #cap)"
        return write(self, update_, condition.replace(lowered_cap_term, item_layout.NOBODY_WAITING), *rest, **options)

    def hand_over_ignoring_the_cap(self: LeaseSemaphore, update_: str, condition: str, *rest: Any) -> dict[str, Any]:
        return update(self, update_, condition.replace(" AND size(#h) <= #cap", ""), *rest)

    monkeypatch.setattr(LeaseSemaphore, "_write", release_ignoring_the_cap)
    monkeypatch.setattr(LeaseSemaphore, "_update_action", hand_over_ignoring_the_cap)
    scenario = next(s for s in WORKFLOW_SCENARIOS if s.name == "cap-lowered-while-queued")
    config = load_platform_config().with_wait_mode("handoff")

    result = run_workflow_scenario(scenario, config, executions={"analytics": 24, "batch": 10}, seed=3)

    assert any("admitting" in violation for violation in result.violations), result.violations


def outcome_counts(result: ScenarioResult) -> dict[str, Any]:
    return {"outcomes": result.outcomes, "failure_errors": result.failure_errors, "violations": result.violations}


@pytest.mark.slow
def test_a_scenario_ends_with_the_same_outcomes_while_cpu_hogs_crowd_the_core_it_runs_on() -> None:
    # Before workflow time was virtual, a hog like this turned most Process steps into States.Timeout failures.
    scenario = next(s for s in WORKFLOW_SCENARIOS if s.name == "process-timeout")
    config, executions = load_platform_config(), {"analytics": 20, "batch": 8}
    # Two busy loops on the one core the scenario is pinned to: it gets about a third of that core, and the
    # other cores stay free for the rest of the test run (`make chaos` was also run with hogs on every core).
    one_core = {max(os.sched_getaffinity(0))} if hasattr(os, "sched_getaffinity") else None

    quiet = run_workflow_scenario(scenario, config, executions=executions, seed=5)
    with cpu_hog(per_core=2, cores=one_core) as hogs:
        loaded = run_workflow_scenario(scenario, config, executions=executions, seed=5)
        assert all(hog.poll() is None for hog in hogs)  # they were busy all along

    assert outcome_counts(loaded) == outcome_counts(quiet)
    assert quiet.failure_errors == {"Sandbox.Timedout": quiet.outcomes["FAILED"]}
    assert quiet.outcomes["SUCCEEDED"] == quiet.runs - quiet.outcomes["FAILED"] > 0


@pytest.mark.slow
def test_the_suite_catches_an_admission_that_lets_one_too_many_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(item_layout, "ADMISSION_CONDITION", item_layout.ADMISSION_CONDITION.replace("<", "<="))

    result = run_scale_scenario(threads=32, cycles=2, seed=1)

    assert any("holders with cap" in violation for violation in result.violations), result.violations


def test_an_unknown_scenario_is_refused_with_the_known_ones(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    outcome = run_ops(
        capsys, REPOSITORY_ROOT / "platform.toml", "chaos", "--scenario", "meteor", "--out", str(tmp_path)
    )

    assert outcome.exit_code == 2
    assert "unknown scenario(s) meteor; known: dynamodb-throttling" in outcome.err
