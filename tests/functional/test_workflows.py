"""`make workflows` against a moto server: roles, exact invoke permissions, state machines, reruns, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lease_ops.config.platform_config import load_platform_config
from lease_ops.definitions.workflow_builder import LeaseFunctions
from lease_ops.provisioning.workflows import render_definition
from tests.helpers import ACCOUNT, REGION, arn, aws_client, service_clients, stand_in_role
from tests.ops import run_ops


def arn_of(app: str, function: str) -> str:
    return arn("lambda", f"function:shared-lease-platform-{app}-dev-{function}")


@pytest.fixture
def aws(moto_endpoint: str) -> dict[str, Any]:
    return service_clients("iam", "stepfunctions")


def state_machine_arn(prefix: str) -> str:
    return arn("states", f"stateMachine:shared-lease-platform-dev-{prefix}-workflow")


def test_each_workload_gets_a_role_trusted_only_by_step_functions_of_this_account(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    assert run_ops(capsys, project, "workflows").exit_code == 0

    for prefix in ("analytics", "batch"):
        role = aws["iam"].get_role(RoleName=f"shared-lease-platform-dev-{prefix}-workflow-{REGION}")["Role"]
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "states.amazonaws.com"}
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": state_machine_arn(prefix)},
        }


def test_each_role_may_invoke_exactly_its_own_workloads_functions(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    run_ops(capsys, project, "workflows")

    allowed = {}
    for prefix in ("analytics", "batch"):
        document = aws["iam"].get_role_policy(
            RoleName=f"shared-lease-platform-dev-{prefix}-workflow-{REGION}", PolicyName="invoke-workload-functions"
        )["PolicyDocument"]
        statement, *others = document["Statement"]
        assert statement["Action"] == "lambda:InvokeFunction"
        allowed[prefix] = set(statement["Resource"])
        # The rest is what logging (ERROR by default) needs; nothing more, and no other Lambda.
        assert [other["Sid"] for other in others] == ["DeliverExecutionLogs"]

    assert allowed["analytics"] == {arn_of("analytics", f) for f in ("acquire", "release", "process")}
    assert allowed["batch"] == {arn_of("batch", f) for f in ("acquire", "release", "renew", "process")}


def test_each_state_machine_is_standard_tagged_and_runs_the_rendered_definition(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    run_ops(capsys, project, "workflows")
    config = load_platform_config(project)

    for name, workload in config.workloads.items():
        described = aws["stepfunctions"].describe_state_machine(stateMachineArn=state_machine_arn(workload.prefix))
        functions = LeaseFunctions(*(arn_of(name, f) for f in ("acquire", "release", "renew", "process")))
        assert described["type"] == "STANDARD"
        assert described["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/shared-lease-platform-dev-{name}-workflow-{REGION}"
        assert json.loads(described["definition"]) == render_definition(config, workload, functions, "aws")
        tags = aws["stepfunctions"].list_tags_for_resource(resourceArn=state_machine_arn(workload.prefix))["tags"]
        assert {"key": "managed-by", "value": "shared-lease-platform"} in tags


def test_each_state_machine_logs_errors_to_its_own_log_group_kept_30_days_and_is_not_traced_by_default(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    assert run_ops(capsys, project, "workflows").exit_code == 0
    logs = aws_client("logs")

    described = aws["stepfunctions"].describe_state_machine(stateMachineArn=state_machine_arn("batch"))
    group = "/aws/vendedlogs/states/shared-lease-platform-dev-batch-workflow"
    assert described["loggingConfiguration"] == {
        "level": "ERROR",
        "includeExecutionData": False,
        "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": arn("logs", f"log-group:{group}:*")}}],
    }
    assert described["tracingConfiguration"] == {"enabled": False}
    [made] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert made["retentionInDays"] == 30
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"managed-by": "shared-lease-platform"}


def test_changing_the_log_level_and_tracing_in_platform_toml_updates_the_state_machines_and_their_roles(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    run_ops(capsys, project, "workflows")
    settings = 'state_machine_log_level = "ALL"\nstate_machine_tracing = true\nlog_retention_days = 7'
    project.write_text(
        project.read_text().replace('platform_app = "lease_app"', f'platform_app = "lease_app"\n{settings}')
    )

    outcome = run_ops(capsys, project, "workflows")

    assert (
        "set the logging and tracing of shared-lease-platform-dev-batch-workflow: logging ALL, tracing on"
        in outcome.out
    )
    described = aws["stepfunctions"].describe_state_machine(stateMachineArn=state_machine_arn("batch"))
    assert described["loggingConfiguration"]["level"] == "ALL"
    assert described["tracingConfiguration"] == {"enabled": True}
    document = aws["iam"].get_role_policy(
        RoleName=f"shared-lease-platform-dev-batch-workflow-{REGION}", PolicyName="invoke-workload-functions"
    )["PolicyDocument"]
    assert [statement.get("Sid") for statement in document["Statement"][1:]] == ["DeliverExecutionLogs", "SendTraces"]
    logs = aws_client("logs")
    group = "/aws/vendedlogs/states/shared-lease-platform-dev-batch-workflow"
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 7
    assert "done" not in run_ops(capsys, project, "workflows").out  # a rerun changes nothing


def test_a_log_level_step_functions_does_not_know_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    project.write_text(
        project.read_text().replace(
            'platform_app = "lease_app"', 'platform_app = "lease_app"\nstate_machine_log_level = "DEBUG"'
        )
    )

    outcome = run_ops(capsys, project, "render", "--account-id", "000000000000", "--quiet")

    assert outcome.exit_code == 2
    assert "state_machine_log_level must be one of ALL, ERROR, FATAL, OFF, got 'DEBUG'" in outcome.err


def test_without_a_deployed_record_the_arns_are_derived_with_a_warning(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    outcome = run_ops(capsys, project, "workflows", "--workload", "batch")

    assert "warning: batch: batch_app/.chalice/deployed/dev.json does not exist" in outcome.out
    assert "deriving ARNs from Chalice's naming" in outcome.out


def test_the_arns_come_from_chalices_deployed_record_when_there_is_one(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    deployed = project.parent / "batch_app" / ".chalice" / "deployed"
    deployed.mkdir(parents=True)
    custom = {f: arn("lambda", f"function:custom-{f}") for f in ("acquire", "release", "renew", "process")}
    resources = [{"name": f, "resource_type": "lambda_function", "lambda_arn": arn} for f, arn in custom.items()]
    (deployed / "dev.json").write_text(json.dumps({"resources": resources, "schema_version": "2.0"}))

    outcome = run_ops(capsys, project, "workflows", "--workload", "batch")

    assert "warning" not in outcome.out
    document = aws["iam"].get_role_policy(
        RoleName=f"shared-lease-platform-dev-batch-workflow-{REGION}", PolicyName="invoke-workload-functions"
    )["PolicyDocument"]
    assert set(document["Statement"][0]["Resource"]) == set(custom.values())


def test_workflows_run_again_change_nothing(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    run_ops(capsys, project, "workflows")

    again = run_ops(capsys, project, "workflows")

    assert again.exit_code == 0
    assert again.out.count("nothing to change") == len(load_platform_config(project).workloads)


def test_a_changed_wait_updates_the_definition_in_place(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    run_ops(capsys, project, "workflows")
    project.write_text(project.read_text().replace("wait_seconds = 5 ", "wait_seconds = 7 "))

    outcome = run_ops(capsys, project, "workflows")

    assert "done     update the definition of shared-lease-platform-dev-analytics-workflow" in outcome.out
    described = aws["stepfunctions"].describe_state_machine(stateMachineArn=state_machine_arn("analytics"))
    assert json.loads(described["definition"])["States"]["WaitForLease"]["Seconds"] == 7


def test_dry_run_prints_the_plan_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    outcome = run_ops(capsys, project, "workflows", "--dry-run")

    assert "would    create Standard state machine shared-lease-platform-dev-batch-workflow" in outcome.out
    assert aws["stepfunctions"].list_state_machines()["stateMachines"] == []
    assert aws["iam"].list_roles()["Roles"] == []


def test_a_state_machine_of_our_name_that_we_did_not_make_is_refused_and_kept(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    role = stand_in_role(aws["iam"], "theirs")
    theirs = {"StartAt": "Mine", "States": {"Mine": {"Type": "Succeed"}}}
    aws["stepfunctions"].create_state_machine(
        name="shared-lease-platform-dev-analytics-workflow", definition=json.dumps(theirs), roleArn=role
    )

    outcome = run_ops(capsys, project, "workflows")

    assert outcome.exit_code == 2
    assert "is not tagged managed-by=shared-lease-platform" in outcome.err
    described = aws["stepfunctions"].describe_state_machine(stateMachineArn=state_machine_arn("analytics"))
    assert json.loads(described["definition"]) == theirs
    assert [r["RoleName"] for r in aws["iam"].list_roles()["Roles"]] == ["theirs"]


def test_an_unknown_workload_is_refused_with_the_known_ones(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    outcome = run_ops(capsys, project, "workflows", "--workload", "reporting")

    assert outcome.exit_code == 2
    known = ", ".join(sorted(load_platform_config(project).workloads))
    assert outcome.err == f"error: unknown workload 'reporting'; platform.toml defines {known}\n"
