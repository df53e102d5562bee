"""Each workload's checked-in IAM policy allows exactly the DynamoDB actions the core uses, on its own prefix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lease_core import LeaseSemaphore, lease_operations
from lease_core.item_layout import WIDE_ABOVE_CAP
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from lease_ops.config.chalice_apps import app_folder
from tests.helpers import TABLE, FakeClock, layout_is_wide, wide_above

WORKLOADS = {"analytics_app": "analytics", "batch_app": "batch"}


# The action IAM authorizes for each kind of item of a TransactWriteItems
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
TRANSACTION_ITEM_ACTIONS = {
    "Put": "put_item",
    "Update": "update_item",
    "Delete": "delete_item",
    "ConditionCheck": "condition_check_item",
}


class RecordingClient:
    """Passes calls through to the real client and records the API actions IAM authorizes for each."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.operations: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name != "transact_write_items":
            self.operations.add(name)
            return method

        def transact_write_items(**request: Any) -> Any:
            for item in request["TransactItems"]:
                self.operations.update(TRANSACTION_ITEM_ACTIONS[kind] for kind in item)
            return method(**request)

        return transact_write_items


def operations_of_a_full_lease_lifecycle(dynamodb: Any) -> set[str]:
    """The DynamoDB API actions the poll mode Lambdas call: acquire (all paths, re-polls too), renew, release,
    in both item layouts, since a live cap change can move a prefix from one to the other."""
    recording = RecordingClient(dynamodb)
    for prefix, wide_above_cap in (("analytics", WIDE_ABOVE_CAP), ("analytics-wide", 0)):
        with wide_above(wide_above_cap):
            clock = FakeClock()
            leases = LeaseSemaphore(recording, DEFAULT_TABLE_NAME, prefix, ttl_seconds=5, initial_cap=1, clock=clock)
            lease_operations.acquire(leases, "a", wait_mode=lease_operations.POLL)
            leases.renew("a")
            lease_operations.acquire(leases, "b", wait_mode=lease_operations.POLL)
            clock.now += 10
            # A re-poll (it has waited) reads first, then (map layout) takes the slot over the expired holder.
            lease_operations.acquire(leases, "b", wait_mode=lease_operations.POLL, waiting_since=clock.now - 10)
            lease_operations.release(leases, "b")
            lease_operations.release(leases, "a")
            assert layout_is_wide(dynamodb, prefix) is (wide_above_cap == 0)
    return {"dynamodb:" + "".join(part.title() for part in operation.split("_")) for operation in recording.operations}


def policy(folder: str) -> dict[str, Any]:
    config = json.loads((app_folder(folder) / ".chalice" / "config.json").read_text())
    stage = config["stages"]["dev"]
    assert stage["autogen_policy"] is False
    return json.loads((app_folder(folder) / ".chalice" / stage["iam_policy_file"]).read_text())


@pytest.mark.parametrize("folder", list(WORKLOADS))
def test_the_policy_allows_only_the_dynamodb_actions_the_core_uses(folder: str, dynamodb: Any) -> None:
    statements = [s for s in policy(folder)["Statement"] if any(a.startswith("dynamodb:") for a in s["Action"])]

    assert len(statements) == 1
    assert set(statements[0]["Action"]) == operations_of_a_full_lease_lifecycle(dynamodb)


@pytest.mark.parametrize(("folder", "prefix"), list(WORKLOADS.items()))
def test_the_policy_limits_dynamodb_to_the_lease_table_and_the_apps_own_prefix(folder: str, prefix: str) -> None:
    (statement,) = [s for s in policy(folder)["Statement"] if s["Sid"] == "LeasesOfThisWorkloadOnly"]

    assert statement["Resource"].endswith(f":table/{TABLE}")
    assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{prefix}#*"]}}


@pytest.mark.parametrize("folder", list(WORKLOADS))
def test_no_statement_allows_every_action_or_every_resource(folder: str) -> None:
    for statement in policy(folder)["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert statement["Effect"] == "Allow"
        assert not any("*" in action for action in actions)
        assert "*" not in resources
