"""Runs of executions that stopped recently, as their failure events reported them: what the sweeper settles again.

A failure event settles a stopped run's leases at once, but an acquire that was already in flight can
land after it. The table stores holders by key, not by execution ARN (``item_layout``), so the sweeper
cannot ask Step Functions about a holder; instead the failure event records the run here, and each
sweep settles the recorded runs again for a while (conditional writes: settling twice changes nothing).
DynamoDB's TTL deletes the records (free of write capacity). An event that never arrives (EventBridge
delivers at least once, on a best-effort basis:
https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html) leaves the run's leases to
their expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lease_core.item_layout import run_key
from lease_core.store import DynamoTable, plain_item

# Not a workload prefix (those start with a letter), so no workload's LeadingKeys reaches it.
ENDED_RUNS_PARTITION = "_ended-runs"
# How long a stopped run is settled again: longer than any acquire already in flight can take to land.
RESETTLE_SECONDS = 900


@dataclass(frozen=True)
class EndedRun:
    execution_arn: str
    run: int
    status: str
    stopped_at: int


def record(table: DynamoTable, ended: EndedRun, *, now: int) -> None:
    table.call(
        "put_item",
        Item={
            "pk": {"S": ENDED_RUNS_PARTITION},
            "sk": {"S": run_key(ended.execution_arn, ended.run)},
            "arn": {"S": ended.execution_arn},
            "run": {"N": str(ended.run)},
            "status": {"S": ended.status},
            "stopped_at": {"N": str(ended.stopped_at)},
            "ttl": {"N": str(now + RESETTLE_SECONDS)},
        },
    )


def recent(table: DynamoTable, *, now: int) -> list[EndedRun]:
    """The runs recorded within ``RESETTLE_SECONDS`` (TTL deletion lags, so expired records are skipped here)."""
    runs: list[EndedRun] = []
    request: dict[str, Any] = {
        "KeyConditionExpression": "pk = :partition",
        "ExpressionAttributeValues": {":partition": {"S": ENDED_RUNS_PARTITION}},
        "ConsistentRead": True,
    }
    while True:
        page = table.call("query", **request)
        for raw in page.get("Items", []):
            item = plain_item(raw) or {}
            if int(item.get("ttl", 0)) > now:
                runs.append(EndedRun(str(item["arn"]), int(item["run"]), str(item["status"]), int(item["stopped_at"])))
        if "LastEvaluatedKey" not in page:
            return runs
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
