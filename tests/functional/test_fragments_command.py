"""`python -m lease_ops fragments`: the lease states a team splices into its own state machine, and that splice
passing asl-validator and `check`, then running to SUCCEEDED on the embedded platform with the real Lambdas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from lease_ops.config.platform_config import PLATFORM_FILE, load_platform_config
from lease_ops.local_runner import LocalRunner, ScaledTimer
from lease_ops.sandbox.embedded_platform import embedded_platform
from tests.helpers import REPOSITORY_ROOT, holders_in_table
from tests.ops import run_ops

ACCOUNT = "000000000000"
ASL_VALIDATOR = REPOSITORY_ROOT / "node_modules" / ".bin" / "asl-validator"


def lease_ops(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lease_ops", *arguments],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def printed_fragments(*arguments: str) -> dict[str, Any]:
    done = lease_ops("fragments", "--account-id", ACCOUNT, *arguments)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # stdout is the JSON alone: warnings go to stderr


def team_definition(lease: dict[str, Any]) -> dict[str, Any]:
    """What a team writes around the printed fragments, reading only their Contract: states of its own
    before the lease, a Pass and a Lambda of its own under it, and a Pass of its own after the release."""
    contract = lease["Contract"]
    aggregate = contract["Functions"]["acquire"].removesuffix("-acquire") + "-process"  # the team's own Lambda
    return {
        "Comment": "Nightly report under the analytics lease",
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Result": "2027-01-15", "ResultPath": "$.day", "Next": contract["EnterAt"]},
            **lease["States"],
            contract["Work"]: {"Type": "Pass", "Result": "counted", "ResultPath": "$.counted", "Next": "Aggregate"},
            "Aggregate": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": aggregate,
                    "Payload": {"records.$": "$.records", "lease_holder.$": contract["Holder"]},
                },
                "ResultSelector": {"summary.$": "$.Payload"},
                "ResultPath": "$.report",
                "TimeoutSeconds": 130,
                "Next": contract["WorkNext"],
                "Catch": contract["WorkCatch"],
            },
            contract["AfterRelease"]: {
                "Type": "Pass",
                "Result": "published",
                "ResultPath": "$.published",
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


@pytest.mark.parametrize("wait_mode", ["poll", "handoff"])
def test_fragments_are_the_states_our_rendered_workflow_is_built_from(wait_mode: str, tmp_path: Path) -> None:
    lease = printed_fragments("--workload", "batch", "--wait-mode", wait_mode)
    assert (
        lease_ops(
            "render", "--account-id", ACCOUNT, "--quiet", "--wait-mode", wait_mode, "--out", str(tmp_path)
        ).returncode
        == 0
    )
    ours = json.loads((tmp_path / "shared-lease-platform-dev-batch-workflow.asl.json").read_text())["States"]

    assert lease["States"] == {name: ours[name] for name in lease["States"]}
    assert set(ours) - set(lease["States"]) == {"PrepareChunks", "Process", "MoreChunks", "Renew"}
    assert lease["Contract"]["WorkCatch"] == ours["Process"]["Catch"][1:]  # ours also sends LeaseLost back to Acquire


def test_the_contract_says_where_to_enter_where_the_work_goes_and_where_its_errors_go() -> None:
    lease = printed_fragments("--workload", "analytics", "--work", "Count", "--after-release", "Publish")
    contract, states = lease["Contract"], lease["States"]

    assert contract["EnterAt"] == "Acquire" and contract["EnterAt"] in states
    assert contract["WorkEnteredBy"] == "CheckLease.Choices[0].Next"
    assert states["CheckLease"]["Choices"][0] == {
        "Variable": "$.lease.status",
        "StringEquals": "acquired",
        "Next": "Count",
    }
    assert states["Acquire"]["ResultPath"] == contract["LeaseAnswer"] == "$.lease"
    assert contract["WorkNext"] == "Release" and states["Release"]["Next"] == "Publish"
    assert "Complete" not in states  # Release goes on to the team's own state
    assert [rule["Next"] for rule in contract["WorkCatch"]] == ["WaitForProcessToStop", "ReleaseAfterFailure"]
    assert states["WaitForProcessToStop"]["Seconds"] == 120  # analytics' process Lambda timeout
    assert contract["Check"] == "python -m lease_ops check DEFINITION.json --guarded Count"


@pytest.mark.parametrize("wait_mode", ["poll", "handoff"])
def test_a_team_definition_spliced_from_the_printed_fragments_passes_asl_validator_and_check(
    wait_mode: str, tmp_path: Path
) -> None:
    definition = tmp_path / "report.asl.json"
    lease = printed_fragments(
        "--workload", "analytics", "--wait-mode", wait_mode, "--work", "Count", "--after-release", "Publish"
    )
    definition.write_text(json.dumps(team_definition(lease), indent=2))

    validated = subprocess.run(
        [str(ASL_VALIDATOR), "--json-path", str(definition)], capture_output=True, text=True, check=False
    )
    checked = lease_ops("check", str(definition), "--guarded", "Count,Aggregate")

    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith(f"{definition}: OK: ")


@pytest.mark.parametrize("wait_mode", ["poll", "handoff"])
def test_a_team_definition_spliced_from_the_printed_fragments_runs_to_succeeded_with_the_real_lambdas(
    wait_mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["fragments", "--workload", "analytics", "--account-id", ACCOUNT, "--wait-mode", wait_mode]
    outcome = run_ops(capsys, PLATFORM_FILE, *arguments, "--work", "Count", "--after-release", "Publish")
    assert outcome.exit_code == 0, outcome.err
    definition = team_definition(json.loads(outcome.out))
    config = load_platform_config().with_wait_mode(wait_mode)
    records = [{"key": "eu", "value": 2.0}, {"key": "eu", "value": 4.0}, {"key": "us", "value": 1.0}]

    with embedded_platform(config, Console(quiet=True)) as platform:
        runner = LocalRunner(platform.dispatcher(), timer=ScaledTimer(10.0))
        machine = platform.target.arn("states", "stateMachine:nightly-report")
        result = runner.run(machine, definition, {"records": records})
        left = holders_in_table(platform.target.client("dynamodb"), "analytics", config.table)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    entered = [event.state for event in result.history if event.type == "StateEntered"]
    assert entered == ["Prepare", "Acquire", "CheckLease", "Count", "Aggregate", "Release", "Publish", "Done"]
    # Aggregate's handler works only under its run's live lease (lease_core.process_guard): it ran under it.
    assert result.output["report"]["summary"]["groups"]["eu"]["count"] == 2
    assert result.output["released"] == {"status": "released"}
    assert left == {}


def test_fragments_of_a_workload_platform_toml_does_not_define_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcome = run_ops(capsys, PLATFORM_FILE, "fragments", "--workload", "reports", "--account-id", ACCOUNT)

    assert outcome.exit_code == 2
    assert outcome.out == ""
    assert outcome.err == "error: unknown workload 'reports'; platform.toml defines analytics, batch\n"


def test_fragments_refuse_a_work_state_named_like_a_lease_state(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_ops(
        capsys, PLATFORM_FILE, "fragments", "--workload", "batch", "--account-id", ACCOUNT, "--work", "Release"
    )

    assert outcome.exit_code == 2
    assert outcome.err == "error: --work 'Release' is the name of a lease state; choose another name\n"


def test_fragments_help_says_what_it_prints() -> None:
    done = lease_ops("fragments", "--help")

    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for words in (
        "--workload WORKLOAD",
        "--work STATE",
        "--after-release STATE",
        "--drain-seconds SECONDS",
        "as ASL JSON",
    ):
        assert words in text
