"""The shared lease table: its shape, and create-or-update to that shape (safe to rerun).

Shape: partition key ``pk`` (S), sort key ``sk`` (S), on-demand billing, TTL on
``ttl``, point-in-time recovery, encryption with the AWS-managed KMS key, and
deletion protection (on unless asked otherwise). A table of the same name with
another key schema is never touched, and one without this platform's ``managed-by``
tag only when adopted (``--adopt``), and then only where a lease table needs it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lease_ops.aws.aws_target import aws_errors, error_code
from lease_ops.aws.layout_migration import plan_layout_migration
from lease_ops.aws.plan import Plan
from lease_ops.errors import ForeignTable, TableSchemaMismatch

DEFAULT_TABLE_NAME = "regional-concurrency-leases"
TTL_ATTRIBUTE = "ttl"
MANAGED_BY_TAG = "managed-by"
ADOPTED_TAG = "lease-table-adopted"  # a table made a lease table by `bootstrap --adopt`: changed only where it must
KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
]
BILLING_MODE = "PAY_PER_REQUEST"  # on demand
SSE_TYPE = "KMS"  # the AWS-managed KMS key (aws/dynamodb)


def describe_table(client: Any, table_name: str) -> dict[str, Any] | None:
    with aws_errors(f"describing table {table_name}"):
        try:
            return client.describe_table(TableName=table_name)["Table"]
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise


def _check_key_schema(table_name: str, table: dict[str, Any]) -> None:
    types = {definition["AttributeName"]: definition["AttributeType"] for definition in table["AttributeDefinitions"]}
    keys = [(key["AttributeName"], key["KeyType"], types.get(key["AttributeName"])) for key in table["KeySchema"]]
    if keys != [("pk", "HASH", "S"), ("sk", "RANGE", "S")]:
        shown = ", ".join(f"{name} {kind} {kind_type}" for name, kind, kind_type in keys)
        raise TableSchemaMismatch(
            f"table {table_name!r} exists with key schema ({shown}), not (pk HASH S, sk RANGE S): "
            "it is not a lease table; choose another name with TABLE=..."
        )


def _wait_until_active(client: Any, table_name: str) -> None:
    with aws_errors(f"waiting for table {table_name} to become active"):
        client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
        while client.describe_table(TableName=table_name)["Table"]["TableStatus"] != "ACTIVE":
            client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 2, "MaxAttempts": 1})


def _tags(client: Any, table: dict[str, Any]) -> dict[str, str]:
    with aws_errors(f"reading the tags of table {table['TableName']}"):
        pages = client.get_paginator("list_tags_of_resource").paginate(ResourceArn=table["TableArn"])
        return {tag["Key"]: tag["Value"] for page in pages for tag in page.get("Tags", [])}


def _plan_adoption(plan: Plan, client: Any, table: dict[str, Any], *, platform: str, adopt: bool) -> bool:
    """Whether the table is only adopted (changed no more than a lease table needs); ``ForeignTable`` if it
    is not ours and adopting it was not asked for."""
    name = table["TableName"]
    tags = _tags(client, table)
    if tags.get(ADOPTED_TAG) == "true" and tags.get(MANAGED_BY_TAG) == platform:
        plan.unchanged(f"adopted earlier (tagged {ADOPTED_TAG}=true): only what a lease table needs is checked")
        return True
    if tags.get(MANAGED_BY_TAG) == platform:
        return False
    if not adopt:
        raise ForeignTable(
            f"table {name!r} exists and is not tagged {MANAGED_BY_TAG}={platform}: this platform did not create "
            "it and changes nothing on it; to use it as the lease table, run `make bootstrap ARGS=--adopt` (it "
            f"then sets only TTL on {TTL_ATTRIBUTE!r} and the tags), or choose another name with TABLE=..."
        )

    def tag() -> None:
        with aws_errors(f"tagging table {name}"):
            client.tag_resource(
                ResourceArn=table["TableArn"],
                Tags=[{"Key": MANAGED_BY_TAG, "Value": platform}, {"Key": ADOPTED_TAG, "Value": "true"}],
            )

    plan.change(f"adopt the table: tag it {MANAGED_BY_TAG}={platform}, {ADOPTED_TAG}=true", tag)
    return True


def _report_left_as_set(plan: Plan, table: dict[str, Any], client: Any) -> None:
    """An adopted table's settings that a table of ours would have otherwise: said, never changed."""
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    encrypted = table.get("SSEDescription", {}).get("Status") in {"ENABLED", "ENABLING"}
    with aws_errors(f"describing backups of {table['TableName']}"):
        backups = client.describe_continuous_backups(TableName=table["TableName"])["ContinuousBackupsDescription"]
    recovery = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED"
    plan.unchanged(
        "left as its owner set it: "
        + ", ".join(
            [
                f"billing {billing.lower().replace('_', '-')}",
                "KMS encryption" if encrypted else "encryption with the DynamoDB-owned key",
                f"deletion protection {'on' if table.get('DeletionProtectionEnabled') else 'off'}",
                f"point-in-time recovery {'on' if recovery else 'off'}",
            ]
        )
    )


def plan_lease_table(
    client: Any, table_name: str, *, platform: str, deletion_protection: bool = True, adopt: bool = False
) -> Plan:
    """What it takes to make ``table_name`` a lease table of the wanted shape.

    A table this platform did not create (no ``managed-by`` tag of ours) is refused (``ForeignTable``),
    unless ``adopt``: then, and on every later run, only what a lease table needs is changed (TTL on
    ``ttl``, and the tags that mark it adopted); its billing, encryption, deletion protection and backups
    stay as its owner set them, and the plan says so.
    """
    plan = Plan(f"lease table {table_name}")
    table = describe_table(client, table_name)
    if table is not None:
        _check_key_schema(table_name, table)
        if _plan_adoption(plan, client, table, platform=platform, adopt=adopt):
            _report_left_as_set(plan, table, client)
            _plan_ttl(plan, client, table_name, exists=True)
            plan_layout_migration(plan, client, table_name)
            return plan

    def call(doing: str, operation: str, **request: Any) -> None:
        with aws_errors(doing):
            getattr(client, operation)(**request)
        _wait_until_active(client, table_name)

    if table is None:
        plan.change(
            "create the table (pk/sk strings, on-demand, KMS encryption"
            + (", deletion protection)" if deletion_protection else ")"),
            lambda: call(
                f"creating table {table_name}",
                "create_table",
                TableName=table_name,
                KeySchema=KEY_SCHEMA,
                AttributeDefinitions=ATTRIBUTE_DEFINITIONS,
                BillingMode=BILLING_MODE,
                SSESpecification={"Enabled": True, "SSEType": SSE_TYPE},
                DeletionProtectionEnabled=deletion_protection,
                Tags=[{"Key": MANAGED_BY_TAG, "Value": platform}],
            ),
        )
    else:
        plan.unchanged("table exists with key schema pk (S) / sk (S)")
        if table.get("BillingModeSummary", {}).get("BillingMode") == BILLING_MODE:
            plan.unchanged("on-demand billing")
        else:
            plan.change(
                "switch billing to on-demand",
                lambda: call("switching to on-demand", "update_table", TableName=table_name, BillingMode=BILLING_MODE),
            )
        if table.get("SSEDescription", {}).get("Status") in {"ENABLED", "ENABLING"}:
            plan.unchanged("encryption with a KMS key")
        else:
            plan.change(
                "encrypt with the AWS-managed KMS key",
                lambda: call(
                    "enabling KMS encryption",
                    "update_table",
                    TableName=table_name,
                    SSESpecification={"Enabled": True, "SSEType": SSE_TYPE},
                ),
            )
        if bool(table.get("DeletionProtectionEnabled")) == deletion_protection:
            plan.unchanged(f"deletion protection {'on' if deletion_protection else 'off'}")
        else:
            plan.change(
                f"turn deletion protection {'on' if deletion_protection else 'off'}",
                lambda: call(
                    "changing deletion protection",
                    "update_table",
                    TableName=table_name,
                    DeletionProtectionEnabled=deletion_protection,
                ),
            )

    _plan_ttl(plan, client, table_name, exists=table is not None)
    _plan_point_in_time_recovery(plan, client, table_name, exists=table is not None)
    if table is not None:
        plan_layout_migration(plan, client, table_name)
    return plan


def _plan_ttl(plan: Plan, client: Any, table_name: str, *, exists: bool) -> None:
    def enable() -> None:
        with aws_errors(f"enabling TTL on {table_name}"):
            client.update_time_to_live(
                TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
            )

    if not exists:
        plan.change(f"enable TTL on attribute {TTL_ATTRIBUTE!r}", enable)
        return
    with aws_errors(f"describing TTL of {table_name}"):
        ttl = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    status, attribute = ttl.get("TimeToLiveStatus"), ttl.get("AttributeName")
    if status in {"ENABLED", "ENABLING"} and attribute == TTL_ATTRIBUTE:
        plan.unchanged(f"TTL on attribute {TTL_ATTRIBUTE!r}")
    elif status in {"ENABLED", "ENABLING"}:
        raise TableSchemaMismatch(
            f"table {table_name!r} has TTL on attribute {attribute!r}; lease tables need {TTL_ATTRIBUTE!r}"
        )
    else:
        plan.change(f"enable TTL on attribute {TTL_ATTRIBUTE!r}", enable)


def _plan_point_in_time_recovery(plan: Plan, client: Any, table_name: str, *, exists: bool) -> None:
    def enable() -> None:
        with aws_errors(f"enabling point-in-time recovery on {table_name}"):
            client.update_continuous_backups(
                TableName=table_name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )

    if exists:
        with aws_errors(f"describing backups of {table_name}"):
            backups = client.describe_continuous_backups(TableName=table_name)["ContinuousBackupsDescription"]
        if backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED":
            plan.unchanged("point-in-time recovery")
            return
    plan.change("enable point-in-time recovery", enable)


def create_lease_table(
    client: Any, table_name: str = DEFAULT_TABLE_NAME, *, platform: str = "shared-lease-platform"
) -> None:
    """Create (or bring up to shape) the lease table without printing: for tests and the embedded demo."""
    for step in plan_lease_table(client, table_name, platform=platform, deletion_protection=False).changes:
        assert step.apply is not None
        step.apply()
