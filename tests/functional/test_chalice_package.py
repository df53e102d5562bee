"""`make package`: deployable CloudFormation templates of a stage, written offline.

One packaging run (module fixture) of a copy of the repository for a stage its apps' config does not have yet,
as `make package STAGE=qa` does it: the three apps through `chalice package`, their functions named as
`chalice deploy` names them, the platform's table and workflows templates, and the deploy sequence.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lease_core.reclaim_rule import execution_ended_pattern
from lease_ops.config.chalice_apps import REPOSITORY_ROOT
from lease_ops.config.platform_config import PlatformConfig, load_platform_config, with_overrides
from lease_ops.packaging.platform_template import logical_id
from tests.helpers import ACCOUNT, REGION, TABLE, aws_client
from tests.ops import run_ops

STAGE = "qa"
APPS = ("lease_app", "analytics_app", "batch_app")
PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
}
HANDLERS = {
    "lease_app": {"app.app", "lease_core.cleanup_functions.reclaim", "lease_core.cleanup_functions.sweeper"},
    **{
        app: {
            "lease_core.lambda_functions.acquire",
            "lease_core.lambda_functions.release",
            "lease_core.lambda_functions.renew",
            "app.process",
        }
        for app in ("analytics_app", "batch_app")
    },
}


@dataclass(frozen=True)
class Packaged:
    root: Path  # the copy of the repository that was packaged
    out: Path
    printed: str
    config: PlatformConfig

    def template(self, name: str) -> dict[str, Any]:
        return json.loads((self.out / name).read_text())

    def resources(self, name: str, kind: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.template(name)["Resources"].items() if value["Type"] == kind}


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    root = tmp_path_factory.mktemp("repository")
    shutil.copy(REPOSITORY_ROOT / "platform.toml", root / "platform.toml")
    for app in APPS:
        shutil.copytree(
            REPOSITORY_ROOT / app,
            root / app,
            ignore=shutil.ignore_patterns("vendor", "deployed", "deployments", "__pycache__"),
        )
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REGION", "TABLE", "STAGE", "AWS_PROFILE", "AWS_ENDPOINT_URL"}
    }
    environment.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "lease_ops",
            "package",
            "--stage",
            STAGE,
            "--out",
            "out",
            "--platform-file",
            "platform.toml",
        ],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    config = with_overrides(load_platform_config(root / "platform.toml"), stage=STAGE)
    return Packaged(root, root / "out", completed.stdout, config)


def resolved(value: Any) -> Any:
    """``value`` as CloudFormation resolves it in account ACCOUNT of REGION (Fn::Sub of pseudo parameters)."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        text = value["Fn::Sub"]
        for name, replacement in PSEUDO_PARAMETERS.items():
            text = text.replace(f"${{{name}}}", replacement)
        assert "${" not in text.replace("${!", ""), f"unresolved placeholder in {text!r}"
        return text.replace("${!", "${")
    if isinstance(value, dict):
        return {key: resolved(item) for key, item in value.items()}
    if isinstance(value, list):
        return [resolved(item) for item in value]
    return value


@pytest.mark.slow
@pytest.mark.parametrize("app", APPS)
def test_each_app_is_packaged_with_the_core_and_its_handlers_pointing_into_it(packaged: Packaged, app: str) -> None:
    names = zipfile.ZipFile(packaged.out / app / "deployment.zip").namelist()
    assert {"app.py", "lease_core/semaphore.py", "lease_core/lambda_functions.py"} <= set(names)
    assert not any(name.startswith("lease_ops/") for name in names)
    functions = packaged.resources(f"{app}/sam.json", "AWS::Serverless::Function")
    assert {function["Properties"]["Handler"] for function in functions.values()} == HANDLERS[app]
    # Every function's log group keeps its logs for the configured retention (platform.toml, default 30 days),
    # and is named after a function of the template (Chalice's own template names the API handler's after a
    # resource it does not have: https://github.com/aws/chalice/issues/2079).
    retention = {
        group["Properties"]["LogGroupName"]["Fn::Sub"]: group["Properties"]["RetentionInDays"]
        for group in packaged.resources(f"{app}/sam.json", "AWS::Logs::LogGroup").values()
    }
    assert retention == {f"/aws/lambda/${{{name}}}": packaged.config.log_retention_days for name in functions}
    assert {function["Properties"]["Runtime"] for function in functions.values()} == {packaged.config.lambda_runtime}


@pytest.mark.slow
def test_every_packaged_function_has_the_name_its_policy_and_the_workflows_use(packaged: Packaged) -> None:
    named: dict[str, set[str]] = {}
    for app in APPS:
        resources = packaged.template(f"{app}/sam.json")["Resources"]
        functions = packaged.resources(f"{app}/sam.json", "AWS::Serverless::Function").values()
        named[app] = {function["Properties"]["FunctionName"] for function in functions}
        for function in functions:
            (policy,) = resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]["Policies"]
            (logs,) = [s for s in policy["PolicyDocument"]["Statement"] if s.get("Sid") == "OwnLogGroups"]
            groups = {arn.split(":log-group:/aws/lambda/")[1] for arn in logs["Resource"] if ":log-stream:" not in arn}
            # Its policy file lets the function write its own log group, and names no function the app lacks.
            assert function["Properties"]["FunctionName"] in groups
            assert groups <= named[app]

    # Chalice's names: <app_name>-<stage>-<function>, the API handler <app_name>-<stage>.
    assert named["lease_app"] == {f"shared-lease-platform-{STAGE}"} | {
        f"shared-lease-platform-{STAGE}-{function}" for function in ("reclaim", "sweeper")
    }
    workflows = packaged.template("platform/workflows.json")["Resources"]
    for workload in packaged.config.workloads.values():
        assert named[workload.app] == {
            f"shared-lease-platform-{workload.name}-{STAGE}-{function}"
            for function in ("acquire", "release", "renew", "process")
        }
        state_machine = resolved(workflows[logical_id(workload.name, "Workflow")]["Properties"])
        role = resolved(workflows[logical_id(workload.name, "WorkflowRole")]["Properties"])
        invoked = {
            state["Parameters"]["FunctionName"]
            for state in json.loads(state_machine["DefinitionString"])["States"].values()
            if state["Type"] == "Task"
        }
        invoke, *_ = role["Policies"][0]["PolicyDocument"]["Statement"]
        assert set(invoke["Resource"]) == invoked
        assert {arn.rsplit(":", 1)[1] for arn in invoked} <= named[workload.app]
        assert all(arn.startswith(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:") for arn in invoked)


@pytest.mark.slow
def test_the_platform_app_is_packaged_and_its_reclaim_rule_hears_only_the_stages_workflows(packaged: Packaged) -> None:
    functions = packaged.resources("lease_app/sam.json", "AWS::Serverless::Function")
    state_machines = packaged.resources("platform/workflows.json", "AWS::StepFunctions::StateMachine")
    names = [state_machine["Properties"]["StateMachineName"] for state_machine in state_machines.values()]

    (reclaim_event,) = functions["Reclaim"]["Properties"]["Events"].values()
    (sweeper_event,) = functions["Sweeper"]["Properties"]["Events"].values()

    assert names == [f"shared-lease-platform-{STAGE}-{prefix}-workflow" for prefix in ("analytics", "batch")]
    assert reclaim_event["Type"] == "CloudWatchEvent"
    assert reclaim_event["Properties"]["Pattern"] == execution_ended_pattern(names)
    assert sweeper_event["Type"] == "Schedule"


@pytest.mark.slow
def test_the_platform_templates_workflows_are_what_make_workflows_creates(
    packaged: Packaged, capsys: pytest.CaptureFixture[str], moto_endpoint: str
) -> None:
    assert run_ops(capsys, packaged.root / "platform.toml", "workflows", "--stage", STAGE).exit_code == 0
    iam = aws_client("iam")
    stepfunctions = aws_client("stepfunctions")
    template = resolved(packaged.template("platform/workflows.json"))["Resources"]

    for workload in packaged.config.workloads.values():
        role = template[logical_id(workload.name, "WorkflowRole")]["Properties"]
        state_machine = template[logical_id(workload.name, "Workflow")]["Properties"]
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{state_machine['StateMachineName']}"
        described = stepfunctions.describe_state_machine(stateMachineArn=arn)
        created_role = iam.get_role(RoleName=role["RoleName"])["Role"]
        (policy,) = role["Policies"]
        created_policy = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy["PolicyName"])

        assert json.loads(state_machine["DefinitionString"]) == json.loads(described["definition"])
        assert described["type"] == state_machine["StateMachineType"]
        assert role["AssumeRolePolicyDocument"] == created_role["AssumeRolePolicyDocument"]
        assert policy["PolicyDocument"] == created_policy["PolicyDocument"]
        assert state_machine["LoggingConfiguration"]["Destinations"] == [
            {"CloudWatchLogsLogGroup": {"LogGroupArn": d["cloudWatchLogsLogGroup"]["logGroupArn"]}}
            for d in described["loggingConfiguration"]["destinations"]
        ]


@pytest.mark.slow
def test_the_table_template_gives_the_table_bootstrap_creates(
    packaged: Packaged, capsys: pytest.CaptureFixture[str], moto_endpoint: str
) -> None:
    assert run_ops(capsys, packaged.root / "platform.toml", "bootstrap").exit_code == 0
    dynamodb = aws_client("dynamodb")
    table = packaged.template("platform/table.json")["Resources"]["LeaseTable"]
    properties = table["Properties"]
    created = dynamodb.describe_table(TableName=properties["TableName"])["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=properties["TableName"])["TimeToLiveDescription"]
    backups = dynamodb.describe_continuous_backups(TableName=properties["TableName"])["ContinuousBackupsDescription"]
    tags = dynamodb.list_tags_of_resource(ResourceArn=created["TableArn"])["Tags"]

    assert properties["KeySchema"] == created["KeySchema"]
    assert properties["AttributeDefinitions"] == created["AttributeDefinitions"]
    assert properties["BillingMode"] == created["BillingModeSummary"]["BillingMode"]
    assert properties["SSESpecification"] == {"SSEEnabled": True, "SSEType": created["SSEDescription"]["SSEType"]}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": ttl["AttributeName"], "Enabled": True}
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is created["DeletionProtectionEnabled"] is True
    assert properties["Tags"] == tags
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


@pytest.mark.slow
def test_every_template_passes_cfn_lint_and_make_lint_lints_them_all(packaged: Packaged) -> None:
    templates = sorted(packaged.out.glob("*/sam.json")) + sorted(packaged.out.glob("platform/*.json"))
    assert [path.relative_to(packaged.out).as_posix() for path in templates] == [
        "analytics_app/sam.json",
        "batch_app/sam.json",
        "lease_app/sam.json",
        "platform/table.json",
        "platform/workflows.json",
    ]
    linted = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), *map(str, templates)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr

    # `make lint` packages into out/lint/package and runs cfn-lint on these globs: they cover every template.
    (recipe,) = [line for line in (REPOSITORY_ROOT / "Makefile").read_text().splitlines() if "/cfn-lint " in line]
    globs = [word.removeprefix("out/lint/package/") for word in recipe.split()[1:]]
    assert sorted({path for pattern in globs for path in packaged.out.glob(pattern)}) == sorted(templates)


@pytest.mark.slow
def test_the_deploy_sequence_goes_table_apps_caps_then_workflows_and_is_written_to_deploy_sh(
    packaged: Packaged,
) -> None:
    script = (packaged.out / "deploy.sh").read_text()
    steps = re.findall(r"--stack-name (\S+)|^(make caps .*)$", script, flags=re.MULTILINE)

    assert script in packaged.printed
    assert [stack or caps for stack, caps in steps] == [
        f"shared-lease-platform-table-{TABLE}",
        f"shared-lease-platform-{STAGE}-lease-app",
        f"shared-lease-platform-{STAGE}-analytics-app",
        f"shared-lease-platform-{STAGE}-batch-app",
        f"make caps REGION={REGION} TABLE={TABLE} STAGE={STAGE}",
        f"shared-lease-platform-{STAGE}-workflows",
    ]
    for app in APPS:
        # The code goes to S3 before its stack is deployed, from the packaged template.
        assert f"--template-file out/{app}/sam.json" in script
        assert script.index(f"--output-template-file out/{app}/packaged.json") < script.index(
            f"--template-file out/{app}/packaged.json"
        )
    assert "--capabilities CAPABILITY_NAMED_IAM" in script.split("--stack-name")[-1]
    assert script.count("--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND") == len(APPS)
    # A new stage is written into each app's config, as make deploy writes it, so `make caps` finds its caps.
    config = json.loads((packaged.root / "analytics_app" / ".chalice" / "config.json").read_text())
    assert config["stages"][STAGE]["environment_variables"]["LEASE_MAX_CONCURRENCY"] == "15"


def test_package_refuses_an_output_folder_that_would_overwrite_the_app_folders(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    outcome = run_ops(capsys, project, "package", "--out", str(project.parent))

    assert outcome.exit_code == 2
    assert "would write the templates over the app folder lease_app/" in outcome.err
    assert (project.parent / "lease_app" / "app.py").is_file()
