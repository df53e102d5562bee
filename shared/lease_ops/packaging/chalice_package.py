"""`make package`: CloudFormation templates of the whole platform for one stage, and the commands that deploy them.

Each app (the platform app, then the workloads) gets its stage's configuration and policy files as `make
deploy` writes them (``lease_ops.config.app_config``: the stage's environment, the reclaim rule's state machines; a new
STAGE is copied from dev, and `make caps` reads its caps there), ``lease_core`` vendored, is packaged by
`chalice package`, and has its functions named as `chalice deploy` names them (``lease_ops.packaging.sam_templates``).
Then the platform's own templates, the lease table and the stage's workflows
(``lease_ops.packaging.platform_template``).
Last, the deploy sequence, printed and written to ``deploy.sh`` beside the templates (docs/cloudformation.md
explains it).

The order of that sequence: the table first (everything uses it; it is shared by every stage); then the
platform app, so that the reclaim rule and the sweeper run before any workflow can; then the workload apps;
then the caps, written into the table as `make deploy` writes them (CloudFormation writes no items); the
workflows last. CloudFormation would create the state machines before their functions (their ARNs are strings
in the definition, and Step Functions checks no function when it creates a state machine), but an execution
started then would fail at its first task: with the state machines last, an entry point exists only once all
it calls does.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from lease_ops.aws.aws_target import AwsTarget
from lease_ops.config.app_config import sync_all_apps
from lease_ops.config.platform_config import PlatformConfig, bounded_name
from lease_ops.errors import PlatformConfigError
from lease_ops.packaging.platform_template import table_template, workflows_template
from lease_ops.packaging.sam_templates import chalice_functions, name_functions
from lease_ops.provisioning.deploy import check_lambda_runtime, run_chalice
from lease_ops.provisioning.vendoring import vendor_runtime

PLATFORM_FOLDER = "platform"  # beside the apps' folders in the output
STACK_NAME_LIMIT = 128  # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html
SAM_CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")  # unnamed roles; the AWS::Serverless transform
NAMED_ROLES_CAPABILITIES = ("CAPABILITY_NAMED_IAM",)  # the workflow roles have names (PlatformConfig.role_name)
BUCKET_VARIABLE = "ARTIFACT_BUCKET"


@dataclass(frozen=True)
class Stack:
    """One `aws cloudformation deploy` of the sequence."""

    name: str
    template: Path  # as `make package` wrote it
    purpose: str
    capabilities: tuple[str, ...] = ()
    sam: bool = False  # its code must first go to S3 (`aws cloudformation package`)
    after_caps: bool = False  # the workloads' caps are written into the table before it is deployed

    @property
    def deployed_template(self) -> Path:
        return self.template.with_name("packaged.json") if self.sam else self.template


def stack_name(*words: str) -> str:
    """A stack name CloudFormation accepts (letters, digits and hyphens, a letter first)."""
    return bounded_name("-".join(re.sub(r"[^A-Za-z0-9-]+", "-", word) for word in words), STACK_NAME_LIMIT)


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def stacks(config: PlatformConfig, out: Path) -> list[Stack]:
    """The stacks in the order they are deployed (see the module's docstring for why)."""
    workload_apps = [workload.app for workload in config.workloads.values()]
    return [
        Stack(
            stack_name(config.platform, "table", config.table),
            out / PLATFORM_FOLDER / "table.json",
            f"the lease table {config.table}, shared by every stage (kept when its stack is deleted)",
        ),
        Stack(
            stack_name(config.platform, config.stage, config.platform_app),
            out / config.platform_app / "sam.json",
            f"{config.platform_app}: admin API, reclaim rule, sweeper",
            SAM_CAPABILITIES,
            sam=True,
        ),
        *(
            Stack(
                stack_name(config.platform, config.stage, app),
                out / app / "sam.json",
                f"{app}: the workload's acquire, release, renew and process functions",
                SAM_CAPABILITIES,
                sam=True,
            )
            for app in workload_apps
        ),
        Stack(
            stack_name(config.platform, config.stage, "workflows"),
            out / PLATFORM_FOLDER / "workflows.json",
            "each workload's role, log group and Standard state machine",
            NAMED_ROLES_CAPABILITIES,
            after_caps=True,
        ),
    ]


def _command(*words: str) -> str:
    """One shell command, each option on a line of its own."""
    lines: list[list[str]] = [[]]
    for word in words:
        if word.startswith("--"):
            lines.append([])
        lines[-1].append(word if word.startswith('"$') else shlex.quote(word))
    return " \\\n    ".join(" ".join(line) for line in lines)


def deploy_script(config: PlatformConfig, sequence: list[Stack], s3_bucket: str | None = None) -> str:
    """The commands that deploy the packaged templates, in order, as a bash script."""
    bucket = f'"${BUCKET_VARIABLE}"'
    region = ["--region", config.region]
    lines = [
        "#!/usr/bin/env bash",
        f"# Deploy {config.platform}, stage {config.stage}, into {config.region} with CloudFormation: the templates",
        f"# `make package STAGE={config.stage}` wrote. Run it from the repository root, with credentials of the target",
        f"# account. {BUCKET_VARIABLE}: an S3 bucket in {config.region} for the Lambda code and the templates.",
        "set -euo pipefail",
        f'{BUCKET_VARIABLE}="${{{BUCKET_VARIABLE}:-{s3_bucket}}}"'
        if s3_bucket
        else f': "${{{BUCKET_VARIABLE}:?set {BUCKET_VARIABLE} to an S3 bucket in {config.region}}}"',
    ]
    step = 0
    for stack in sequence:
        if stack.after_caps:
            step += 1
            lines += [
                "",
                f"# {step}. the workloads' configured caps, into the table (as `make deploy` writes them)",
                _command("make", "caps", f"REGION={config.region}", f"TABLE={config.table}", f"STAGE={config.stage}"),
            ]
        step += 1
        prefix = f"{config.platform}/{config.stage}/{stack.template.parent.name}"
        lines += ["", f"# {step}. {stack.purpose}"]
        if stack.sam:
            lines.append(
                _command(
                    "aws", "cloudformation", "package", *region,
                    "--template-file", str(stack.template),
                    "--s3-bucket", bucket, "--s3-prefix", prefix,
                    "--use-json", "--output-template-file", str(stack.deployed_template),
                )
            )  # fmt: skip
        deploy = [
            "aws", "cloudformation", "deploy", *region,
            "--stack-name", stack.name,
            "--template-file", str(stack.deployed_template),
            "--s3-bucket", bucket, "--s3-prefix", prefix,
        ]  # fmt: skip
        if stack.capabilities:
            deploy += ["--capabilities", *stack.capabilities]
        lines.append(_command(*deploy, "--no-fail-on-empty-changeset"))
    return "\n".join(lines) + "\n"


def package(
    target: AwsTarget, config: PlatformConfig, out: Path, console: Console, *, s3_bucket: str | None = None
) -> list[Stack]:
    """Write every template of ``config.stage`` under ``out``, and the deploy sequence; returns its stacks."""
    check_lambda_runtime(config)
    for app in config.app_folders:  # each app's output folder is emptied first: never an app folder itself
        if (out / app).resolve() == config.app_dir(app).resolve():
            raise PlatformConfigError(
                f"--out {out} would write the templates over the app folder {app}/: choose another folder"
            )
    for path in sync_all_apps(config, partition=target.partition.name):
        console.print(f"updated {path} for stage {config.stage}, table {config.table}, region {config.region}")
    for app in config.app_folders:
        app_dir = config.app_dir(app)
        vendor_runtime(app_dir)
        app_out = (out / app).resolve()
        shutil.rmtree(app_out, ignore_errors=True)
        run_chalice(target, app_dir, ["package", "--stage", config.stage, str(app_out)], console)
        template_path = app_out / "sam.json"
        template = json.loads(template_path.read_text())
        named = name_functions(template, chalice_functions(app_dir, config.stage), app)
        _write_json(template_path, template)
        console.print(f"  named its functions as chalice deploy does: {', '.join(sorted(named.values()))}")
    _write_json(out / PLATFORM_FOLDER / "table.json", table_template(config))
    _write_json(out / PLATFORM_FOLDER / "workflows.json", workflows_template(config))
    console.print(f"[bold]{PLATFORM_FOLDER}[/bold]: wrote table.json and workflows.json into {out / PLATFORM_FOLDER}")
    sequence = stacks(config, out)
    script = out / "deploy.sh"
    script.write_text(deploy_script(config, sequence, s3_bucket))
    script.chmod(0o755)
    console.print(f"\nDeploy with CloudFormation, in this order ({script}; docs/cloudformation.md):\n")
    console.print(script.read_text(), markup=False, highlight=False)
    return sequence
