"""Bring a table written by the earlier item layout to the current one (``make bootstrap``, safe to rerun).

The earlier layout kept each prefix's holders by full holder id under ``holders``; the current one keeps
them by holder key under ``h`` (``lease_core.item_layout``), and its queue has an index item per waiter.
The lease core never admits anyone on a prefix still in the earlier layout (fail closed), so a rolling
upgrade cannot over-admit. Bootstrap migrates a prefix only while it is idle (no holder, nobody queued):
leases cannot be carried over, because the earlier entries name their holders in full and the current
ones by a key that only the holder's id gives, and its queue places have no index. A prefix that is busy
is refused with a message that says so; the upgrade is documented as: drain, then bootstrap.
"""

from __future__ import annotations

from typing import Any

from lease_core.item_layout import CAP, HOLDERS, LEGACY_HOLDERS, SEMAPHORE_SORT_KEY, waiters_partition
from lease_ops.aws.aws_target import aws_errors
from lease_ops.aws.plan import Plan
from lease_ops.errors import OperatorError


class PrefixBusyInOldLayout(OperatorError):
    """A prefix in the earlier item layout still has holders or waiters: it cannot be migrated yet."""


def legacy_semaphores(client: Any, table_name: str) -> list[dict[str, Any]]:
    """Every semaphore item that still has the earlier layout's ``holders`` map."""
    found: list[dict[str, Any]] = []
    request: dict[str, Any] = {
        "FilterExpression": "#sk = :semaphore AND attribute_exists(#legacy)",
        "ExpressionAttributeNames": {"#sk": "sk", "#legacy": LEGACY_HOLDERS},
        "ExpressionAttributeValues": {":semaphore": {"S": SEMAPHORE_SORT_KEY}},
        "ConsistentRead": True,
    }
    while True:
        with aws_errors(f"looking for semaphores of the earlier layout in {table_name}"):
            page = client.scan(TableName=table_name, **request)
        found += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def plan_layout_migration(plan: Plan, client: Any, table_name: str) -> None:
    """Add a step per idle prefix of the earlier layout; refuse (``PrefixBusyInOldLayout``) a busy one."""
    items = legacy_semaphores(client, table_name)
    if not items:
        plan.unchanged("every prefix is in the current item layout")
        return
    for item in items:
        prefix = item["pk"]["S"].split("#", 1)[0]
        holders = len(item[LEGACY_HOLDERS].get("M", {}))
        with aws_errors(f"reading the queue of prefix {prefix}"):
            queued = client.query(
                TableName=table_name,
                KeyConditionExpression="pk = :partition",
                ExpressionAttributeValues={":partition": {"S": waiters_partition(prefix)}},
                ConsistentRead=True,
                Limit=1,
            ).get("Items", [])
        if holders or queued:
            raise PrefixBusyInOldLayout(
                f"prefix {prefix!r} is in the earlier item layout with {holders} holder(s)"
                + (" and executions queued" if queued else "")
                + ": nobody is admitted on it until it is migrated, and only an idle prefix can be; let its "
                "executions finish (or stop them), then run bootstrap again"
            )
        plan.change(
            f"migrate prefix {prefix} to the current item layout (idle: nothing to carry over)",
            lambda key=item["pk"]: _migrate(client, table_name, key),
        )


def _migrate(client: Any, table_name: str, pk: dict[str, str]) -> None:
    with aws_errors(f"migrating {pk['S']}"):
        try:
            client.update_item(
                TableName=table_name,
                Key={"pk": pk, "sk": {"S": SEMAPHORE_SORT_KEY}},
                UpdateExpression="SET #h = if_not_exists(#h, :empty), #waiting = :zero REMOVE #legacy",
                ConditionExpression="attribute_exists(#cap) AND size(#legacy) = :zero",
                ExpressionAttributeNames={"#h": HOLDERS, "#legacy": LEGACY_HOLDERS, "#cap": CAP, "#waiting": "waiting"},
                ExpressionAttributeValues={":empty": {"M": {}}, ":zero": {"N": "0"}},
            )
        except client.exceptions.ConditionalCheckFailedException:
            raise PrefixBusyInOldLayout(
                f"{pk['S']} got a holder while it was being migrated (an old Lambda still runs): run bootstrap again"
            ) from None
