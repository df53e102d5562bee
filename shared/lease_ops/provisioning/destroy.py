"""`make destroy`: remove what bootstrap, deploy, workflows and dashboard made. Safe to rerun.

The table goes only when asked (``DESTROY_TABLE=1``), and then its deletion
protection is lifted explicitly first. Nothing that lacks our ``managed-by``
tag is deleted, nor a table that was adopted (``bootstrap --adopt``) rather than created.

It refuses to delete a state machine whose executions still run unless told to (``--force``): deleting
it stops nothing, but its Lambdas and the reclaim rule go with the stage, so those executions would fail
and leave their leases to expire. After ``chalice delete`` (which needs Chalice's deployed record) it
removes what each app left behind, found by name and tag (``lease_ops.provisioning.leftovers``): a failed deploy, or a
deploy made on another machine, leaves no record.
"""

from __future__ import annotations

import json
from pathlib import Path

from botocore.exceptions import ClientError
from rich.console import Console

from lease_ops.aws.aws_target import AwsTarget, aws_errors, delete_role, error_code
from lease_ops.aws.plan import Plan
from lease_ops.aws.table import ADOPTED_TAG, MANAGED_BY_TAG, describe_table
from lease_ops.config.platform_config import PlatformConfig
from lease_ops.definitions.deployed_functions import deployed_record
from lease_ops.errors import ExecutionsStillRunning, ForeignResource, TableStillInUse
from lease_ops.provisioning.dashboard import plan_dashboard_removal
from lease_ops.provisioning.deploy import run_chalice
from lease_ops.provisioning.leftovers import AppLeftovers, ChaliceNames, chalice_tag_fields
from lease_ops.provisioning.state_machine_logs import StateMachineLogs
from lease_ops.provisioning.workflows import WorkflowProvisioner


def stages_using_table(target: AwsTarget, config: PlatformConfig) -> set[str]:
    """The stages whose deployed Lambdas (by Chalice's tag) have this table in their environment."""
    lambda_ = target.client("lambda")
    stages = set()
    with aws_errors("listing the functions that use the table"):
        for page in lambda_.get_paginator("list_functions").paginate():
            for function in page["Functions"]:
                if (function.get("Environment") or {}).get("Variables", {}).get("LEASE_TABLE_NAME") != config.table:
                    continue
                fields = chalice_tag_fields(lambda_.list_tags(Resource=function["FunctionArn"]).get("Tags", {}))
                if "stage" in fields:
                    stages.add(fields["stage"])
    return stages


def plan_table_removal(target: AwsTarget, config: PlatformConfig, *, force: bool = False) -> Plan:
    """The table is every stage's that points at it: refused while another stage's Lambdas use it."""
    others = sorted(stages_using_table(target, config) - {config.stage})
    if others and not force:
        raise TableStillInUse(
            f"table {config.table} is still used by stage(s) {', '.join(others)}: destroy them first, or run "
            "destroy again with --force to delete it under them"
        )
    plan = Plan(f"table {config.table}")
    dynamodb = target.client("dynamodb")
    table = describe_table(dynamodb, config.table)
    if table is None:
        plan.unchanged(f"table {config.table} is gone")
        return plan
    with aws_errors(f"reading the tags of table {config.table}"):
        tags = dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    tagged = {tag["Key"]: tag["Value"] for tag in tags}
    if tagged.get(MANAGED_BY_TAG) != config.platform:
        raise ForeignResource(
            f"table {config.table} is not tagged {MANAGED_BY_TAG}={config.platform}; not deleting someone else's table"
        )
    if tagged.get(ADOPTED_TAG) == "true":
        raise ForeignResource(
            f"table {config.table} was adopted (`bootstrap --adopt`), not created, by this platform: not deleting "
            "it; its owner may, once nothing uses it"
        )

    def delete_table() -> None:
        with aws_errors(f"deleting table {config.table}"):
            if dynamodb.describe_table(TableName=config.table)["Table"].get("DeletionProtectionEnabled"):
                dynamodb.update_table(TableName=config.table, DeletionProtectionEnabled=False)
            dynamodb.delete_table(TableName=config.table)
            dynamodb.get_waiter("table_not_exists").wait(
                TableName=config.table, WaiterConfig={"Delay": 2, "MaxAttempts": 150}
            )

    protection = ", lifting its deletion protection first" if table.get("DeletionProtectionEnabled") else ""
    plan.change(f"delete table {config.table} and every lease in it{protection}", delete_table)
    return plan


def has_deployed_resources(app_dir: Path, stage: str) -> bool:
    """Whether Chalice's record of the stage lists anything to delete."""
    record = deployed_record(app_dir, stage)
    if not record.is_file():
        return False
    try:
        return bool(json.loads(record.read_text()).get("resources"))
    except ValueError:
        return True  # a damaged record: let chalice itself report it


RUNNING_PAGE = 100


def stray_state_machines(target: AwsTarget, config: PlatformConfig) -> list[dict[str, str]]:
    """This stage's state machines, by name and tag, of workloads no longer in platform.toml."""
    sfn = target.client("stepfunctions")
    stage_prefix = f"{config.platform}-{config.stage}-"
    found = []
    with aws_errors("listing the state machines"):
        for page in sfn.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                name = machine["name"]
                if not name.startswith(stage_prefix) or name in config.state_machine_names:
                    continue
                tags = {
                    t["key"]: t["value"]
                    for t in sfn.list_tags_for_resource(resourceArn=machine["stateMachineArn"])["tags"]
                }
                if tags.get(MANAGED_BY_TAG) == config.platform:
                    found.append(machine)
    return found


def plan_stray_workflow_removal(target: AwsTarget, config: PlatformConfig) -> Plan:
    """A workload taken out of platform.toml leaves its state machine, log group and role: found by name and tag.

    The role is the one the state machine in this region runs as (IAM is global: a scan of role names would
    also find the same stage's roles of other regions), and only if it carries our tag.
    """
    plan = Plan(f"workflows of stage {config.stage} no longer in platform.toml (found by name and tag)")
    sfn, iam = target.client("stepfunctions"), target.client("iam")
    for machine in stray_state_machines(target, config):
        arn, name = machine["stateMachineArn"], machine["name"]
        with aws_errors(f"reading state machine {name}"):
            role = sfn.describe_state_machine(stateMachineArn=arn)["roleArn"].rsplit("/", 1)[-1]

        def delete_state_machine(arn: str = arn, name: str = name) -> None:
            with aws_errors(f"deleting state machine {name}"):
                sfn.delete_state_machine(stateMachineArn=arn)

        plan.change(f"delete state machine {name}", delete_state_machine)
        StateMachineLogs(target, config, name).plan_group_removal(plan)
        with aws_errors(f"reading the tags of role {role}"):
            try:
                tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role)["Tags"]}
            except ClientError as exc:
                if error_code(exc) != "NoSuchEntity":
                    raise
                tags = {}
        if tags.get(MANAGED_BY_TAG) == config.platform:
            plan.change(f"delete role {role}", lambda role=role: delete_role(iam, role))
    if not plan.changes:
        plan.unchanged("none")
    return plan


def running_executions(target: AwsTarget, config: PlatformConfig) -> dict[str, int]:
    """State machine name -> how many of its executions run (up to RUNNING_PAGE), for those that have any."""
    sfn = target.client("stepfunctions")
    running = {}
    machines = {m["name"]: m["stateMachineArn"] for m in stray_state_machines(target, config)}
    for workload in config.workloads.values():
        provisioner = WorkflowProvisioner(target, config, workload)
        if provisioner.describe_state_machine() is not None:
            machines[provisioner.state_machine_name] = provisioner.state_machine_arn
    for name, arn in machines.items():
        with aws_errors(f"listing the running executions of {name}"):
            executions = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=RUNNING_PAGE)[
                "executions"
            ]
        if executions:
            running[name] = len(executions)
    return running


def check_running_executions(
    target: AwsTarget, config: PlatformConfig, console: Console, *, force: bool, dry_run: bool
) -> None:
    running = running_executions(target, config)
    if not running:
        return
    counts = ", ".join(
        f"{name} has {'100 or more' if n >= RUNNING_PAGE else n} running" for name, n in sorted(running.items())
    )
    warning = (
        f"{counts}: deleting the stage makes those executions fail at their next task, and their leases wait "
        "for their expiry"
    )
    if force or dry_run:
        console.print(
            f"[yellow]warning:[/yellow] {warning}" + ("" if force else " (destroy will refuse without --force)")
        )
        return
    raise ExecutionsStillRunning(f"{warning}; stop them first, or run destroy again with --force (ARGS=--force)")


def destroy(
    target: AwsTarget,
    config: PlatformConfig,
    console: Console,
    *,
    destroy_table: bool,
    dry_run: bool,
    force: bool = False,
) -> None:
    check_running_executions(target, config, console, force=force, dry_run=dry_run)
    for workload in config.workloads.values():
        WorkflowProvisioner(target, config, workload).plan_removal().execute(console, dry_run=dry_run)
    plan_stray_workflow_removal(target, config).execute(console, dry_run=dry_run)
    plan_dashboard_removal(target, config).execute(console, dry_run=dry_run)
    for app in reversed(config.app_folders):
        if not has_deployed_resources(config.app_dir(app), config.stage):
            console.print(f"[bold]{app}[/bold]\n  [green]ok[/green]       nothing deployed for stage {config.stage}")
        elif dry_run:
            console.print(f"[bold]{app}[/bold]\n  [yellow]would[/yellow]    chalice delete --stage {config.stage}")
        else:
            run_chalice(target, config.app_dir(app), ["delete", "--stage", config.stage], console)
        AppLeftovers(target, ChaliceNames.of_app(config.app_dir(app), config.stage)).plan().execute(
            console, dry_run=dry_run
        )
    if destroy_table:
        plan = plan_table_removal(target, config, force=force)
    else:
        plan = Plan(f"table {config.table}")
        plan.unchanged("kept (DESTROY_TABLE=1 deletes it and every lease in it)")
    plan.execute(console, dry_run=dry_run)
