"""The shared lease table: its shape, and create-or-update to that shape (safe to rerun).

Shape: partition key ``pk`` (S), sort key ``sk`` (S), on-demand billing, TTL on
``ttl``, point-in-time recovery, encryption with the AWS-managed KMS key, and
deletion protection (on unless asked otherwise). A table of the same name with
another key schema is never touched: that is someone else's table.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lease_ops.aws_target import aws_errors, error_code
from lease_ops.errors import TableSchemaMismatch
from lease_ops.layout_migration import plan_layout_migration
from lease_ops.plan import Plan

DEFAULT_TABLE_NAME = "regional-concurrency-leases"
TTL_ATTRIBUTE = "ttl"
MANAGED_BY_TAG = "managed-by"
KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
]


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


def plan_lease_table(client: Any, table_name: str, *, platform: str, deletion_protection: bool = True) -> Plan:
    """What it takes to make ``table_name`` a lease table of the wanted shape."""
    plan = Plan(f"lease table {table_name}")
    table = describe_table(client, table_name)

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
                BillingMode="PAY_PER_REQUEST",
                SSESpecification={"Enabled": True, "SSEType": "KMS"},
                DeletionProtectionEnabled=deletion_protection,
                Tags=[{"Key": MANAGED_BY_TAG, "Value": platform}],
            ),
        )
    else:
        _check_key_schema(table_name, table)
        plan.unchanged("table exists with key schema pk (S) / sk (S)")
        if table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST":
            plan.unchanged("on-demand billing")
        else:
            plan.change(
                "switch billing to on-demand",
                lambda: call(
                    "switching to on-demand", "update_table", TableName=table_name, BillingMode="PAY_PER_REQUEST"
                ),
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
                    SSESpecification={"Enabled": True, "SSEType": "KMS"},
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
