"""`make workload` end to end, on a copy of the project: the new workload's own test passes where `make test`
finds it, it deploys on the embedded AWS and its workflow runs to SUCCEEDED, and the demo runs it with the others,
all without a further edit."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from lease_core import LeaseSemaphore
from lease_ops.config.chalice_apps import REPOSITORY_ROOT
from lease_ops.config.platform_config import load_platform_config
from lease_ops.sandbox.moto_server import free_loopback_port
from tests.helpers import REGION
from tests.ops import run_ops
from tests.sandbox_process import sandbox_process

NAME = "scaffolded"  # no workload of platform.toml has it: the copy is of platform.toml as it is


def scaffold(capsys: pytest.CaptureFixture[str], project: Path, *arguments: str) -> None:
    made = run_ops(capsys, project, "new-workload", "--name", NAME, *arguments)
    assert made.exit_code == 0, made.err


def test_the_generated_test_passes_and_is_collected_from_the_test_paths_make_test_uses(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    shutil.copy(REPOSITORY_ROOT / "pyproject.toml", project.parent / "pyproject.toml")  # its testpaths
    scaffold(capsys, project, "--cap", "2")

    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=project.parent,
        capture_output=True,
        text=True,
    )

    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "5 passed" in collected.stdout  # tests/unit/test_scaffolded_processing.py, found by testpaths


@pytest.mark.slow
def test_a_new_workload_deploys_on_the_embedded_aws_and_its_workflow_runs_to_succeeded(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scaffold(capsys, project, "--cap", "2")
    config = load_platform_config(project)
    workload = config.workload(NAME)
    # The sandbox is `make sandbox`: moto where chalice deploys, with executions run by the local runner.
    with sandbox_process("--port", str(free_loopback_port()), "--platform-file", str(project)) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint())
        aws = {s: boto3.client(s, region_name=REGION) for s in ("dynamodb", "lambda", "stepfunctions")}
        for command in ("bootstrap", "deploy", "workflows"):
            outcome = run_ops(capsys, project, command)
            assert outcome.exit_code == 0, (command, outcome.out, outcome.err)

        ran = run_ops(capsys, project, "run", "--workload", NAME, "--executions", "3", "--timeout", "120")

        functions = {f["FunctionName"] for f in aws["lambda"].list_functions()["Functions"]}
        machine = f"arn:aws:states:{REGION}:123456789012:stateMachine:{config.state_machine_name(workload)}"
        executions = aws["stepfunctions"].list_executions(stateMachineArn=machine)["executions"]
        outputs = [
            json.loads(aws["stepfunctions"].describe_execution(executionArn=e["executionArn"])["output"])
            for e in executions
        ]
        semaphore = LeaseSemaphore(aws["dynamodb"], config.table, NAME).inspect()
        server.wait(signal.SIGTERM)

    assert ran.exit_code == 0, (ran.out, ran.err)
    assert {f"shared-lease-platform-{NAME}-dev-{f}" for f in ("acquire", "release", "renew", "process")} <= functions
    assert [e["status"] for e in executions] == ["SUCCEEDED"] * 3
    assert all(output["result"]["output"]["workload"] == NAME for output in outputs)  # the stub's answer
    assert (semaphore.cap, semaphore.holders) == (2, {})  # its configured cap, every lease released


@pytest.mark.slow
def test_the_demo_runs_a_new_handoff_workload_with_the_others_within_its_cap(
    capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path
) -> None:
    scaffold(capsys, project, "--cap", "2", "--wait-mode", "handoff")
    small = ["--executions", "analytics=2", "--executions", "batch=2", "--executions", f"{NAME}=6"]

    outcome = run_ops(capsys, project, "demo", *small, "--time-scale", "40", "--out", str(tmp_path / "demo"))

    assert outcome.exit_code == 0, outcome.err
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    summary = report["workflows"][NAME]
    assert (summary["wait_mode"], summary["cap"], summary["succeeded"]) == ("handoff", 2, 6)
    assert summary["max_concurrent"] == 2
    assert report["leaked_holders"] == 0 and report["waiters_left"] == 0
