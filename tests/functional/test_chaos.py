"""The chaos suite, short: every fault scenario runs, injects faults and finds zero invariant violations.

And the suite can fail: with a cleanup that frees an aborted execution's lease at once, or an
admission that lets one too many in, it reports violations.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lease_core import execution_cleanup, semaphore
from lease_ops.chalice_apps import REPOSITORY_ROOT
from lease_ops.chaos.scale_scenario import run_scale_scenario
from lease_ops.chaos.suite import SCENARIO_NAMES
from lease_ops.chaos.workflow_scenarios import WORKFLOW_SCENARIOS, run_workflow_scenario
from lease_ops.platform_config import load_platform_config
from tests.ops import run_ops


@pytest.mark.slow
def test_every_scenario_of_the_quick_chaos_run_injects_faults_and_violates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outcome = run_ops(capsys, REPOSITORY_ROOT / "platform.toml", "chaos", "--quick", "--out", str(tmp_path))
    results = json.loads((tmp_path / "results.json").read_text())

    assert outcome.exit_code == 0, outcome.err
    assert [s["scenario"] for s in results["scenarios"]] == SCENARIO_NAMES
    for scenario in results["scenarios"]:
        assert scenario["runs"] > 0, scenario
        assert scenario["faults_injected"] > 0, scenario
        # Workflow scenarios check the table after every state; the scale scenario samples it continuously.
        floor = 10 if scenario["scenario"] == "concurrency-at-scale" else scenario["runs"]
        assert scenario["invariant_checks"] > floor, scenario
        assert scenario["invariant_violations"] == 0, scenario["violations"]
        # Every failed execution says why; the ones of process-timeout failed by their timeout.
        assert sum(scenario["failure_errors"].values()) == scenario["outcomes"].get("FAILED", 0), scenario
    timeouts = next(s for s in results["scenarios"] if s["scenario"] == "process-timeout")
    assert timeouts["failure_errors"] and set(timeouts["failure_errors"]) <= {"States.Timeout", "Sandbox.Timedout"}
    assert "invariant checks" in outcome.out


HANDOFF_SENSITIVE = [
    "dynamodb-lost-responses",
    "lambda-crash-after-write",
    "abort-while-waiting",
    "abort-during-release",
]


@pytest.mark.slow
def test_in_handoff_mode_lost_answers_crashes_and_aborts_leave_no_slot_or_waiter_behind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenarios = [argument for name in HANDOFF_SENSITIVE for argument in ("--scenario", name)]
    outcome = run_ops(
        capsys,
        REPOSITORY_ROOT / "platform.toml",
        "chaos",
        "--quick",
        "--wait-mode",
        "handoff",
        *scenarios,
        "--out",
        str(tmp_path),
    )
    results = json.loads((tmp_path / "results.json").read_text())

    assert outcome.exit_code == 0, outcome.err
    assert results["wait_modes"] == {"analytics": "handoff", "batch": "handoff"}
    assert [s["scenario"] for s in results["scenarios"]] == HANDOFF_SENSITIVE
    for scenario in results["scenarios"]:
        assert scenario["faults_injected"] > 0 and scenario["invariant_violations"] == 0, scenario


@pytest.mark.slow
def test_the_suite_catches_a_cleanup_that_frees_an_aborted_executions_lease_while_its_task_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(execution_cleanup, "TASKS_MAY_OUTLIVE", frozenset())
    scenario = next(s for s in WORKFLOW_SCENARIOS if s.name == "abort-while-holding")

    result = run_workflow_scenario(
        scenario, load_platform_config(), executions={"analytics": 20, "batch": 8}, time_scale=20, seed=3
    )

    assert any("ran without a lease" in violation for violation in result.violations), result.violations


@pytest.mark.slow
def test_the_suite_catches_an_admission_that_lets_one_too_many_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semaphore, "ADMISSION_CONDITION", semaphore.ADMISSION_CONDITION.replace("<", "<="))

    result = run_scale_scenario(threads=32, cycles=2, seed=1)

    assert any("holders with cap" in violation for violation in result.violations), result.violations


def test_an_unknown_scenario_is_refused_with_the_known_ones(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    outcome = run_ops(
        capsys, REPOSITORY_ROOT / "platform.toml", "chaos", "--scenario", "meteor", "--out", str(tmp_path)
    )

    assert outcome.exit_code == 2
    assert "unknown scenario(s) meteor; known: dynamodb-throttling" in outcome.err
