"""`make sandbox`: an embedded AWS where the operator path runs as on AWS, executions run by the local runner."""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from lease_core import LeaseSemaphore
from lease_ops.config.platform_config import load_platform_config
from lease_ops.sandbox.moto_server import LOOPBACK, free_loopback_port
from lease_ops.sandbox.server import sandbox
from tests.helpers import TABLE, arn, aws_client, service_clients, stand_in_role
from tests.ops import run_ops
from tests.sandbox_process import sandbox_process


def logged(lines: list[str], what: str) -> list[str]:
    """The sandbox's log lines of one kind (``HH:MM:SS started   <machine>:<name>``)."""
    return [line for line in lines if re.fullmatch(rf"\d\d:\d\d:\d\d {what} +\S+.*", line)]


@pytest.mark.slow
@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_sandbox_prints_its_endpoint_serves_aws_and_stops_cleanly_on_a_signal(sent: signal.Signals) -> None:
    port = free_loopback_port()
    with sandbox_process("--port", str(port)) as server:
        endpoint = server.endpoint()
        tables = aws_client("dynamodb", endpoint_url=endpoint).list_tables()["TableNames"]

        exit_code, err = server.wait(sent)

    assert endpoint == f"http://{LOOPBACK}:{port}"
    assert tables == []  # empty at start
    assert {"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing"} <= set(server.out)
    assert (exit_code, err) == (0, "")
    assert server.out[-2:] == ["stopping the sandbox", "sandbox stopped"]


@pytest.mark.slow
def test_a_port_in_use_is_one_line_of_error_and_exit_2() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with sandbox_process("--port", str(port)) as server:
            exit_code, err = server.wait()

    assert exit_code == 2
    assert server.out == []
    assert err.count("\n") == 1
    assert err.startswith(f"error: port {port} on 127.0.0.1 is already in use (a sandbox already running?)")
    assert "make sandbox PORT=<port>" in err


def quiet_console() -> Console:
    return Console(file=io.StringIO(), width=400)


def wait_for(stepfunctions: Any, execution: str, status: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = stepfunctions.describe_execution(executionArn=execution)
        if described["status"] == status or time.monotonic() > deadline:
            return described
        time.sleep(0.1)


def test_an_execution_whose_functions_are_not_the_apps_stays_running_and_the_sandbox_says_why(project: Path) -> None:
    console = quiet_console()
    definition = {
        "StartAt": "Elsewhere",
        "States": {
            "Elsewhere": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "someone-elses-function", "Payload": {}},
                "End": True,
            }
        },
    }
    with sandbox(load_platform_config(project), console, port=None) as (endpoint, _):
        stepfunctions = aws_client("stepfunctions", endpoint_url=endpoint)
        machine = stepfunctions.create_state_machine(
            name="foreign",
            definition=json.dumps(definition),
            roleArn=stand_in_role(aws_client("iam", endpoint_url=endpoint), "sandbox-test"),
        )["stateMachineArn"]
        execution = stepfunctions.start_execution(stateMachineArn=machine, name="first")["executionArn"]
        time.sleep(0.5)
        status = stepfunctions.describe_execution(executionArn=execution)["status"]

    assert status == "RUNNING"
    assert (
        "foreign:first: not run, RUNNING for ever as moto leaves it: state 'Elsewhere' calls someone-elses-function, "
        "not a function of the Chalice apps of platform.toml" in console.file.getvalue()  # type: ignore[attr-defined]
    )


def test_a_task_calling_an_app_function_that_is_not_deployed_fails_as_on_aws_and_moto_lists_it_failed(
    project: Path,
) -> None:
    # https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html: Lambda's own errors reach the
    # execution as Lambda.<exception>; Invoke of a function that does not exist is ResourceNotFoundException.
    console = quiet_console()
    definition = {
        "StartAt": "Acquire",
        "States": {
            "Acquire": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    # No stage qa is deployed.
                    "FunctionName": arn("lambda", "function:shared-lease-platform-batch-qa-acquire"),
                    "Payload": {"holder.$": "$$.Execution.Id"},
                },
                "End": True,
            }
        },
    }
    with sandbox(load_platform_config(project), console, port=None) as (endpoint, _):
        stepfunctions = aws_client("stepfunctions", endpoint_url=endpoint)
        machine = stepfunctions.create_state_machine(
            name="undeployed",
            definition=json.dumps(definition),
            roleArn=stand_in_role(aws_client("iam", endpoint_url=endpoint), "sandbox-test"),
        )["stateMachineArn"]
        execution = stepfunctions.start_execution(stateMachineArn=machine, name="first")["executionArn"]
        described = wait_for(stepfunctions, execution, "FAILED")
        listed = stepfunctions.list_executions(stateMachineArn=machine)["executions"]

    assert described["status"] == "FAILED"
    assert described["error"] == "Lambda.ResourceNotFoundException"
    assert [entry["status"] for entry in listed] == ["FAILED"]
    assert "failed    undeployed:first (Lambda.ResourceNotFoundException)" in console.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.slow
def test_the_operator_path_runs_against_the_sandbox_as_against_aws_from_bootstrap_to_destroy(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_platform_config(project)
    with sandbox_process("--port", str(free_loopback_port()), "--platform-file", str(project)) as server:
        endpoint = server.endpoint()
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        aws = service_clients("dynamodb", "lambda", "stepfunctions")
        for command in ("bootstrap", "deploy", "caps", "workflows"):
            outcome = run_ops(capsys, project, command)
            assert outcome.exit_code == 0, (command, outcome.out, outcome.err)

        ran = run_ops(capsys, project, "run", "--executions", "3", "--seed", "7", "--timeout", "120")

        machines = {
            m["name"]: m["stateMachineArn"] for m in aws["stepfunctions"].list_state_machines()["stateMachines"]
        }
        statuses = {
            w.name: [
                execution["status"]
                for execution in aws["stepfunctions"].list_executions(
                    stateMachineArn=machines[config.state_machine_name(w)]
                )["executions"]
            ]
            for w in config.workloads.values()
        }
        dynamodb = aws["dynamodb"]
        holders = {
            w.prefix: LeaseSemaphore(dynamodb, config.table, w.prefix).inspect().holders
            for w in config.workloads.values()
        }
        destroyed = run_ops(capsys, project, "destroy", "--destroy-table")
        left = (
            aws["stepfunctions"].list_state_machines()["stateMachines"],
            aws["lambda"].list_functions()["Functions"],
            aws["dynamodb"].list_tables()["TableNames"],
        )
        exit_code, err = server.wait(signal.SIGTERM)

    assert ran.exit_code == 0, (ran.out, ran.err)
    assert "started 3 execution(s) of each of analytics, batch" in ran.out
    assert "│ analytics │ 3         │ 0      │ 0         │ 0       │" in ran.out
    assert "│ batch     │ 3         │ 0      │ 0         │ 0       │" in ran.out
    assert statuses == {"analytics": ["SUCCEEDED"] * 3, "batch": ["SUCCEEDED"] * 3}  # moto's own record agrees
    assert holders == {"analytics": {}, "batch": {}}
    assert destroyed.exit_code == 0, destroyed.err
    assert left == ([], [], [])
    assert (exit_code, err) == (0, "")
    assert len(logged(server.out, "started")) == len(logged(server.out, "succeeded")) == 6


def names_by_stage(aws: dict[str, Any]) -> dict[str, set[str]]:
    """What the platform made in the account, sorted by the stage its name carries."""
    made = {
        "state machines": {m["name"] for m in aws["stepfunctions"].list_state_machines()["stateMachines"]},
        "functions": {f["FunctionName"] for f in aws["lambda"].list_functions()["Functions"]},
        "roles": {r["RoleName"] for r in aws["iam"].list_roles()["Roles"]},
        "rules": {r["Name"] for r in aws["events"].list_rules()["Rules"]},
    }
    return {
        stage: {name for names in made.values() for name in names if f"-{stage}-" in name or name.endswith(f"-{stage}")}
        for stage in ("dev", "prod")
    }


@pytest.mark.slow
def test_dev_and_prod_run_side_by_side_in_the_sandbox_and_each_can_be_destroyed_alone(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sandbox_process("--port", str(free_loopback_port()), "--platform-file", str(project)) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint())
        aws = service_clients("events", "iam", "lambda", "stepfunctions")
        assert run_ops(capsys, project, "bootstrap").exit_code == 0
        for stage in ("dev", "prod"):
            for command in ("deploy", "workflows"):
                outcome = run_ops(capsys, project, command, "--stage", stage)
                assert outcome.exit_code == 0, (stage, command, outcome.out, outcome.err)
        # Each stage's executions run on its own stage's functions, side by side.
        runs = [
            run_ops(capsys, project, "run", "--stage", s, "--executions", "2", "--timeout", "120")
            for s in ("dev", "prod")
        ]
        before = names_by_stage(aws)
        definitions = {
            stage: aws["stepfunctions"].describe_state_machine(
                stateMachineArn=arn("states", f"stateMachine:shared-lease-platform-{stage}-batch-workflow")
            )["definition"]
            for stage in ("dev", "prod")
        }
        rules = {rule["Name"]: rule for rule in aws["events"].list_rules()["Rules"]}
        destroyed = run_ops(capsys, project, "destroy", "--stage", "prod")
        after = names_by_stage(aws)
        # The table is dev's too: prod may not take it away.
        table_kept = run_ops(capsys, project, "destroy", "--stage", "prod", "--destroy-table")
        tables = aws_client("dynamodb").list_tables()["TableNames"]
        server.wait(signal.SIGTERM)

    assert [run.exit_code for run in runs] == [0, 0], [run.out for run in runs]
    assert {name.replace("-dev-", "-prod-").replace("-dev", "-prod") for name in before["dev"]} == before["prod"]
    assert "shared-lease-platform-prod-batch-workflow" in before["prod"]
    for stage in ("dev", "prod"):
        definition = json.loads(definitions[stage])
        invoked = {s["Parameters"]["FunctionName"] for s in definition["States"].values() if s["Type"] == "Task"}
        assert invoked and all(f"-batch-{stage}-" in function for function in invoked), invoked
        pattern = json.loads(rules[f"shared-lease-platform-{stage}-reclaim-event"]["EventPattern"])
        assert all(f"-{stage}-" in machine["wildcard"] for machine in pattern["detail"]["stateMachineArn"])
    assert destroyed.exit_code == 0, destroyed.err
    assert after == {"dev": before["dev"], "prod": set()}
    assert table_kept.exit_code == 1
    assert f"table {TABLE} is still used by stage(s) dev" in table_kept.err
    assert tables == [TABLE]
