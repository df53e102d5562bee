"""Keep each app's `.chalice/` (stage environment, IAM policy files) in step with the platform config.

Like Chalice's own todo-app sample, deploying writes the resource names it
provisioned into ``.chalice/config.json``. Here that is the table name and the
workload prefix of each stage, and the least-privilege policy files, rendered
for the region, table and stage. For the defaults in platform.toml the
rendered files are exactly the checked-in ones, so a default deploy changes
nothing in the working tree; a new STAGE gets its stage copied from ``dev``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from lease_core.reclaim_rule import STATE_MACHINES_VARIABLE
from lease_ops.config.platform_config import PlatformConfig, WorkloadConfig
from lease_ops.errors import PlatformConfigError

LEASE_FUNCTIONS = ("acquire", "release", "renew")
PLATFORM_FUNCTIONS = ("reclaim", "sweeper")  # plus the API handler, named <app>-<stage>
TEMPLATE_STAGE = "dev"


def _log_group_arns(partition: str, region: str, function_names: list[str]) -> list[str]:
    arns = []
    for name in function_names:
        group = f"arn:{partition}:logs:{region}:*:log-group:/aws/lambda/{name}"
        arns += [group, f"{group}:log-stream:*"]
    return arns


def _logs_statement(partition: str, region: str, function_names: list[str]) -> dict[str, Any]:
    return {
        "Sid": "OwnLogGroups",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": _log_group_arns(partition, region, function_names),
    }


def _send_task_success_statement() -> dict[str, Any]:
    """Telling a waiting task it has its slot. SendTaskSuccess has no resource-level permissions (a task
    token names no resource), so IAM only accepts "*" here: the one statement that cannot be narrowed."""
    return {"Sid": "HandSlotsToWaitingTasks", "Effect": "Allow", "Action": ["states:SendTaskSuccess"], "Resource": "*"}


# GetItem: a re-poll reads before it writes (lease_core.lease_operations.PEEK_AFTER_SECONDS). DeleteItem: a
# prefix in the wide item layout (a cap above lease_core.item_layout.WIDE_ABOVE_CAP, which can change live)
# deletes a lease's own item on release, inside a TransactWriteItems, which IAM authorizes action by action
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
POLL_ACTIONS = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:UpdateItem"]
# Handoff mode also reads the semaphore and the queue, and queues and dequeues in transactions. BatchGetItem:
# the index items of the waiters a wide prefix's free slots go to (lease_core.queue_items.QueueItems.counted);
# dynamodb:LeadingKeys applies to it key by key
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html).
HANDOFF_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
]


def lease_functions_policy(
    *,
    partition: str,
    region: str,
    table: str,
    prefix: str,
    app_name: str,
    stage: str,
    wait_mode: str = "poll",
    state_machine: str = "*",
) -> dict[str, Any]:
    """acquire/release/renew: the lease table, only items of the app's own prefix; in handoff mode also
    SendTaskSuccess to the waiting tasks of the workload's own state machine."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "LeasesOfThisWorkloadOnly",
            "Effect": "Allow",
            "Action": HANDOFF_ACTIONS if wait_mode == "handoff" else POLL_ACTIONS,
            "Resource": f"arn:{partition}:dynamodb:{region}:*:table/{table}",
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{prefix}#*"]}},
        },
        _logs_statement(partition, region, [f"{app_name}-{stage}-{name}" for name in LEASE_FUNCTIONS]),
    ]
    if wait_mode == "handoff":
        statements[1:1] = [
            _send_task_success_statement(),
            {
                # A waiter whose wait just timed out is told "TaskTimedOut" like a dead one; if its
                # execution still runs it keeps the slot (its re-check finds it) instead of its place.
                "Sid": "TellTimedOutWaitersFromDeadOnes",
                "Effect": "Allow",
                "Action": ["states:DescribeExecution"],
                "Resource": f"arn:{partition}:states:{region}:*:execution:{state_machine}:*",
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


def process_policy(
    *, partition: str, region: str, table: str, prefix: str, app_name: str, stage: str
) -> dict[str, Any]:
    """process: its own logs, and a read of its own prefix's leases (it checks it holds one before its work)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CheckItsOwnLease",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem"],
                "Resource": f"arn:{partition}:dynamodb:{region}:*:table/{table}",
                "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{prefix}#*"]}},
            },
            _logs_statement(partition, region, [f"{app_name}-{stage}-process"]),
        ],
    }


def json_text(document: dict[str, Any]) -> str:
    """A `.chalice/` JSON file's text, as every app's checked-in files have it."""
    return json.dumps(document, indent=2) + "\n"


def _write_json_if_changed(path: Path, document: dict[str, Any], *, dry_run: bool = False) -> bool:
    """Whether ``path`` differs from ``document`` (then written, unless ``dry_run``)."""
    text = json_text(document)
    if path.is_file() and path.read_text() == text:
        return False
    if not dry_run:
        path.write_text(text)
    return True


def _stage_of(config: dict[str, Any], stage: str, app_dir: Path) -> dict[str, Any]:
    stages = config.setdefault("stages", {})
    if stage not in stages:
        if TEMPLATE_STAGE not in stages:
            raise PlatformConfigError(f"{app_dir.name}/.chalice/config.json has no stage {stage!r} to copy from")
        stages[stage] = copy.deepcopy(stages[TEMPLATE_STAGE])
    return stages[stage]


def render_workload_app(
    platform: PlatformConfig, workload: WorkloadConfig, config: dict[str, Any], *, partition: str
) -> dict[Path, dict[str, Any]]:
    """The workload app's `.chalice/` documents for ``platform.stage``, from its ``config.json`` content
    ``config`` (changed in place): what `deploy` writes, and what `new-workload` writes for a new app before it
    exists, so that the first deploy of a new workload finds nothing to change."""
    chalice_dir = workload.app_dir / ".chalice"
    stage = _stage_of(config, platform.stage, workload.app_dir)
    stage["log_retention_in_days"] = platform.log_retention_days
    stage["autogen_policy"] = False
    stage["iam_policy_file"] = f"policy-{platform.stage}.json"
    stage.setdefault("lambda_functions", {}).setdefault("process", {})["iam_policy_file"] = (
        f"policy-{platform.stage}-process.json"
    )
    environment = stage.setdefault("environment_variables", {})
    environment["LEASE_TABLE_NAME"] = platform.table
    environment["LEASE_PREFIX"] = workload.prefix
    if workload.wait_mode == "handoff":
        environment["LEASE_WAIT_MODE"] = "handoff"
    else:
        environment.pop("LEASE_WAIT_MODE", None)  # poll is the default
    names = dict(partition=partition, region=platform.region, app_name=config["app_name"], stage=platform.stage)
    return {
        chalice_dir / "config.json": config,
        chalice_dir / stage["iam_policy_file"]: lease_functions_policy(
            table=platform.table,
            prefix=workload.prefix,
            wait_mode=workload.wait_mode,
            state_machine=platform.state_machine_name(workload),
            **names,
        ),
        chalice_dir / f"policy-{platform.stage}-process.json": process_policy(
            table=platform.table, prefix=workload.prefix, **names
        ),
    }


def sync_workload_app(
    platform: PlatformConfig, workload: WorkloadConfig, *, partition: str, dry_run: bool = False
) -> list[str]:
    """Bring one workload app's stage config and policy files in line; returns the files written."""
    documents = render_workload_app(platform, workload, workload.chalice_config(), partition=partition)
    written = []
    for path, document in documents.items():
        if _write_json_if_changed(path, document, dry_run=dry_run):
            written.append(str(path.relative_to(workload.app_dir.parent)))
    return written


def platform_policy(*, partition: str, region: str, table: str, app_name: str, stage: str) -> dict[str, Any]:
    """The platform app reads and cleans every prefix, and asks Step Functions about executions."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EveryPrefixOfTheLeaseTable",
                "Effect": "Allow",
                # Query and DeleteItem: the queues of handoff mode (handing freed slots over, dropping dead waiters);
                # PutItem: the record of a stopped run that the sweeper settles again (lease_core.ended_runs);
                # BatchGetItem: which of the waiters it admits together the queue count includes.
                "Action": [
                    "dynamodb:BatchGetItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:Query",
                    "dynamodb:Scan",
                    "dynamodb:UpdateItem",
                ],
                "Resource": f"arn:{partition}:dynamodb:{region}:*:table/{table}",
            },
            {
                "Sid": "IsTheExecutionStillRunning",
                "Effect": "Allow",
                "Action": ["states:DescribeExecution"],
                "Resource": f"arn:{partition}:states:{region}:*:execution:*:*",
            },
            _send_task_success_statement(),
            _logs_statement(
                partition,
                region,
                [f"{app_name}-{stage}", *(f"{app_name}-{stage}-{name}" for name in PLATFORM_FUNCTIONS)],
            ),
        ],
    }


def render_platform_app(platform: PlatformConfig, *, partition: str) -> dict[Path, dict[str, Any]]:
    """The platform app's `.chalice/` documents for ``platform.stage``: its table, the state machines of every
    workload (the reclaim rule hears of these only) and its policy."""
    app_dir = platform.app_dir(platform.platform_app)
    chalice_dir = app_dir / ".chalice"
    config = json.loads((chalice_dir / "config.json").read_text())
    stage = _stage_of(config, platform.stage, app_dir)
    stage["log_retention_in_days"] = platform.log_retention_days
    stage["autogen_policy"] = False
    stage["iam_policy_file"] = f"policy-{platform.stage}.json"
    environment = stage.setdefault("environment_variables", {})
    environment["LEASE_TABLE_NAME"] = platform.table
    # The reclaim rule's event pattern names these (lease_core.cleanup_functions): only this stage's workflows.
    environment[STATE_MACHINES_VARIABLE] = ",".join(platform.state_machine_names)
    environment.pop("RECONCILE_MIN_AGE_SECONDS", None)  # the sweeper no longer asks Step Functions
    policy = platform_policy(
        partition=partition,
        region=platform.region,
        table=platform.table,
        app_name=config["app_name"],
        stage=platform.stage,
    )
    return {chalice_dir / "config.json": config, chalice_dir / stage["iam_policy_file"]: policy}


def sync_platform_app(platform: PlatformConfig, *, partition: str, dry_run: bool = False) -> list[str]:
    """The platform app's stage: the table and its policy file."""
    app_dir = platform.app_dir(platform.platform_app)
    written = []
    for path, document in render_platform_app(platform, partition=partition).items():
        if _write_json_if_changed(path, document, dry_run=dry_run):
            written.append(str(path.relative_to(app_dir.parent)))
    return written


def sync_all_apps(platform: PlatformConfig, *, partition: str, dry_run: bool = False) -> list[str]:
    """The files brought in line (with ``dry_run``: the files that would be)."""
    written = sync_platform_app(platform, partition=partition, dry_run=dry_run)
    for workload in platform.workloads.values():
        written += sync_workload_app(platform, workload, partition=partition, dry_run=dry_run)
    return written
