"""The operator sequence of docs/operations.md against a moto server: bootstrap → deploy → workflows → run → destroy."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from moto.stepfunctions.models import stepfunctions_backends

from lease_core import LeaseSemaphore
from lease_ops.config.platform_config import load_platform_config, with_overrides
from tests.helpers import ACCOUNT, REGION, TABLE, service_clients, stand_in_role
from tests.ops import run_ops


@pytest.fixture
def aws(moto_endpoint: str) -> dict[str, Any]:
    return service_clients("apigateway", "dynamodb", "events", "iam", "lambda", "logs", "stepfunctions")


def finish_executions(status_of: dict[str, str], stop: threading.Event) -> None:
    """Stand in for Step Functions finishing executions (moto leaves them RUNNING): name prefix → status."""
    backend = stepfunctions_backends[ACCOUNT][REGION]
    while not stop.is_set():
        for machine in backend.state_machines:
            for execution in machine.executions:
                if execution.status == "RUNNING":
                    execution.status = next(s for p, s in status_of.items() if machine.name.startswith(p))
        time.sleep(0.05)


def run_with_finisher(capsys: pytest.CaptureFixture[str], project: Path, status_of: dict[str, str]) -> Any:
    stop = threading.Event()
    finisher = threading.Thread(target=finish_executions, args=(status_of, stop))
    finisher.start()
    try:
        return run_ops(capsys, project, "run", "--executions", "3", "--seed", "7")
    finally:
        stop.set()
        finisher.join()


@pytest.mark.slow
def test_the_whole_sequence_provisions_runs_and_removes_everything(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    for command in ("bootstrap", "deploy", "workflows"):
        outcome = run_ops(capsys, project, command)
        assert outcome.exit_code == 0, (command, outcome.out, outcome.err)

    functions = {f["FunctionName"] for f in aws["lambda"].list_functions()["Functions"]}
    assert {
        f"shared-lease-platform-{app}-dev-{f}"
        for app in ("analytics", "batch")
        for f in ("acquire", "release", "renew", "process")
    } <= functions
    assert {
        "shared-lease-platform-dev",
        "shared-lease-platform-dev-reclaim",
        "shared-lease-platform-dev-sweeper",
    } <= functions
    rules = {rule["Name"]: rule for rule in aws["events"].list_rules()["Rules"]}
    reclaim_pattern = json.loads(rules["shared-lease-platform-dev-reclaim-event"]["EventPattern"])
    assert reclaim_pattern["source"] == ["aws.states"]
    # Only this stage's workflows: not every state machine in the account.
    assert reclaim_pattern["detail"]["stateMachineArn"] == [
        {"wildcard": f"arn:*:states:*:*:stateMachine:shared-lease-platform-dev-{name}-workflow"}
        for name in ("analytics", "batch")
    ]
    assert rules["shared-lease-platform-dev-sweeper-event"]["ScheduleExpression"] == "rate(1 minute)"
    assert [api["name"] for api in aws["apigateway"].get_rest_apis()["items"]] == ["shared-lease-platform"]
    deployed = json.loads((project.parent / "analytics_app/.chalice/deployed/dev.json").read_text())
    assert {r["name"] for r in deployed["resources"] if r["resource_type"] == "lambda_function"} >= {
        "acquire",
        "process",
    }
    dynamodb = aws["dynamodb"]
    assert LeaseSemaphore(dynamodb, TABLE, "analytics").inspect().cap == 15
    assert LeaseSemaphore(dynamodb, TABLE, "batch").inspect().cap == 5

    ran = run_with_finisher(capsys, project, {"shared-lease-platform": "SUCCEEDED"})
    assert ran.exit_code == 0, ran.err
    assert "started 3 execution(s) of each of analytics, batch" in ran.out

    kept = run_ops(capsys, project, "destroy")
    assert kept.exit_code == 0, kept.err
    assert aws["stepfunctions"].list_state_machines()["stateMachines"] == []
    assert aws["lambda"].list_functions()["Functions"] == []
    assert [r["RoleName"] for r in aws["iam"].list_roles()["Roles"]] == []
    assert aws["events"].list_rules()["Rules"] == []
    assert aws["apigateway"].get_rest_apis()["items"] == []
    assert aws["logs"].describe_log_groups(logGroupNamePrefix="/aws/vendedlogs/states/")["logGroups"] == []
    assert dynamodb.list_tables()["TableNames"] == [TABLE]

    gone = run_ops(capsys, project, "destroy", "--destroy-table")
    assert gone.exit_code == 0, gone.err
    assert "lifting its deletion protection first" in gone.out
    assert dynamodb.list_tables()["TableNames"] == []

    again = run_ops(capsys, project, "destroy", "--destroy-table")
    assert again.exit_code == 0
    assert "done" not in again.out


@pytest.mark.slow
def test_editing_a_cap_in_config_json_and_deploying_changes_it_printing_old_and_new(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    run_ops(capsys, project, "bootstrap")
    first = run_ops(capsys, project, "caps")
    config_file = project.parent / "batch_app" / ".chalice" / "config.json"
    config = json.loads(config_file.read_text())
    config["stages"]["dev"]["environment_variables"]["LEASE_MAX_CONCURRENCY"] = "8"
    config_file.write_text(json.dumps(config))

    second = run_ops(capsys, project, "caps")

    assert "batch: cap (none) → 5" in first.out
    assert "batch: cap 5 → 8" in second.out
    assert "analytics: cap 15 → 15" in second.out
    assert LeaseSemaphore(aws["dynamodb"], TABLE, "batch").inspect().cap == 8


def test_run_exits_1_and_names_the_executions_that_did_not_succeed(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    run_ops(capsys, project, "workflows")

    outcome = run_with_finisher(
        capsys,
        project,
        # batch's fail, every other workflow's (analytics and any added with `make workload`) succeed
        {"shared-lease-platform-dev-batch-workflow": "FAILED", "shared-lease-platform-dev-": "SUCCEEDED"},
    )

    assert outcome.exit_code == 1
    started = 3 * len(load_platform_config(project).workloads)
    assert outcome.err == f"error: 3 of {started} executions did not succeed\n"
    assert (
        outcome.out.count("FAILED arn:aws:states:eu-central-1:123456789012:execution:shared-lease-platform-dev-batch")
        == 3
    )
    assert outcome.err == "error: 3 of 6 executions did not succeed\n"
    assert outcome.out.count(f"FAILED arn:aws:states:{REGION}:{ACCOUNT}:execution:shared-lease-platform-dev-batch") == 3


def test_run_before_the_workflows_exist_says_to_make_them_first(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    outcome = run_ops(capsys, project, "run")

    assert outcome.exit_code == 2
    assert "run `make workflows` first" in outcome.err


def everything_made(aws: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "state machines": [m["name"] for m in aws["stepfunctions"].list_state_machines()["stateMachines"]],
        "functions": [f["FunctionName"] for f in aws["lambda"].list_functions()["Functions"]],
        "roles": [r["RoleName"] for r in aws["iam"].list_roles()["Roles"]],
        "rules": [r["Name"] for r in aws["events"].list_rules()["Rules"]],
        "apis": [a["name"] for a in aws["apigateway"].get_rest_apis()["items"]],
        "log groups": [g["logGroupName"] for g in aws["logs"].describe_log_groups()["logGroups"]],
    }


@pytest.mark.slow
def test_destroy_finds_what_a_deploy_left_without_chalices_record_by_name_and_tag(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    for command in ("bootstrap", "deploy", "workflows"):
        assert run_ops(capsys, project, command).exit_code == 0
    assert all(everything_made(aws).values())
    # What a failed deploy, or a deploy from another machine, leaves: resources and no record of them.
    for app in ("lease_app", "analytics_app", "batch_app"):
        (project.parent / app / ".chalice" / "deployed" / "dev.json").unlink()

    outcome = run_ops(capsys, project, "destroy")

    assert outcome.exit_code == 0, outcome.err
    assert "delete function shared-lease-platform-batch-dev-acquire" in outcome.out
    assert "delete rule shared-lease-platform-dev-reclaim-event" in outcome.out
    assert everything_made(aws) == {key: [] for key in everything_made(aws)}
    again = run_ops(capsys, project, "destroy")
    assert again.exit_code == 0 and "done" not in again.out


@pytest.mark.slow
def test_destroy_leaves_another_stage_and_foreign_functions_of_similar_names_alone(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    assert run_ops(capsys, project, "bootstrap").exit_code == 0
    assert run_ops(capsys, project, "deploy", "--stage", "prod").exit_code == 0
    role = stand_in_role(aws["iam"], "theirs")
    aws["lambda"].create_function(  # a name like ours, without Chalice's tag for this app and stage
        FunctionName="shared-lease-platform-dev-theirs",
        Runtime="python3.11",
        Role=role,
        Handler="x.y",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    before = everything_made(aws)

    outcome = run_ops(capsys, project, "destroy")

    assert outcome.exit_code == 0, outcome.err
    assert everything_made(aws) == before


@pytest.mark.slow
def test_destroy_refuses_to_delete_a_state_machine_with_running_executions_unless_forced(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    assert run_ops(capsys, project, "workflows").exit_code == 0
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:shared-lease-platform-dev-batch-workflow"
    aws["stepfunctions"].start_execution(stateMachineArn=arn, name="still-working")  # moto leaves it RUNNING

    refused = run_ops(capsys, project, "destroy")
    planned = run_ops(capsys, project, "destroy", "--dry-run")

    assert refused.exit_code == 1
    assert "shared-lease-platform-dev-batch-workflow has 1 running" in refused.err
    assert "--force" in refused.err
    assert len(aws["stepfunctions"].list_state_machines()["stateMachines"]) == 2
    assert planned.exit_code == 0 and "warning: shared-lease-platform-dev-batch-workflow has 1 running" in planned.out

    forced = run_ops(capsys, project, "destroy", "--force")

    assert forced.exit_code == 0, forced.err
    assert aws["stepfunctions"].list_state_machines()["stateMachines"] == []


@pytest.mark.slow
def test_deploy_dry_run_says_what_would_change_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    assert run_ops(capsys, project, "bootstrap").exit_code == 0
    config_file = project.parent / "batch_app" / ".chalice" / "config.json"
    config_before = config_file.read_text()

    fresh = run_ops(capsys, project, "deploy", "--dry-run")
    new_stage = run_ops(capsys, project, "deploy", "--dry-run", "--stage", "prod")

    assert fresh.exit_code == 0, fresh.err
    assert "create shared-lease-platform-batch-dev (functions, roles, rules, API) from nothing" in fresh.out
    assert "batch: cap (none) → 5" in fresh.out
    assert new_stage.exit_code == 0, new_stage.err
    assert "would    update batch_app/.chalice/config.json for stage prod" in new_stage.out
    assert "write the caps of stage prod once deploy has written the stage" in new_stage.out
    assert config_file.read_text() == config_before
    assert everything_made(aws)["functions"] == []

    assert run_ops(capsys, project, "deploy").exit_code == 0
    again = run_ops(capsys, project, "deploy", "--dry-run")

    assert "update its 4 function(s) (shared-lease-platform-batch-dev-acquire" in again.out
    assert "batch: cap 5 → 5" in again.out


def test_destroy_removes_the_workflow_of_a_workload_taken_out_of_platform_toml_by_name_and_tag(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    assert run_ops(capsys, project, "workflows").exit_code == 0
    text = project.read_text()
    project.write_text(text[: text.index("[workloads.batch]")])  # batch is gone from the configuration
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:shared-lease-platform-dev-batch-workflow"
    aws["stepfunctions"].start_execution(stateMachineArn=arn, name="still-working")

    refused = run_ops(capsys, project, "destroy")
    forced = run_ops(capsys, project, "destroy", "--force")

    assert refused.exit_code == 1 and "shared-lease-platform-dev-batch-workflow has 1 running" in refused.err
    assert forced.exit_code == 0, forced.err
    assert "delete state machine shared-lease-platform-dev-batch-workflow" in forced.out
    assert aws["stepfunctions"].list_state_machines()["stateMachines"] == []
    assert [r["RoleName"] for r in aws["iam"].list_roles()["Roles"]] == []
    assert aws["logs"].describe_log_groups(logGroupNamePrefix="/aws/vendedlogs/states/")["logGroups"] == []


def test_destroy_in_one_region_leaves_the_same_stages_workflow_roles_of_another_region_alone(
    capsys: pytest.CaptureFixture[str], project: Path, aws: dict[str, Any]
) -> None:
    # IAM is global: the us-east-1 workflows' roles are in the same list as eu-central-1's.
    for region in (REGION, "us-east-1"):
        assert run_ops(capsys, project, "workflows", "--region", region).exit_code == 0
    config = load_platform_config(project)
    text = project.read_text()
    project.write_text(text[: text.index("[workloads.batch]")])

    outcome = run_ops(capsys, project, "destroy")

    assert outcome.exit_code == 0, outcome.err
    us_east_1 = with_overrides(config, region="us-east-1")
    roles = sorted(r["RoleName"] for r in aws["iam"].list_roles()["Roles"])
    assert roles == sorted(us_east_1.role_name(w) for w in config.workloads.values())
    assert {
        "shared-lease-platform-dev-analytics-workflow-us-east-1",
        "shared-lease-platform-dev-batch-workflow-us-east-1",
    } <= set(roles)
