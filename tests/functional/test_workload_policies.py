"""Each workload's checked-in IAM policy allows exactly the DynamoDB actions the core uses, on its own prefix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lease_core import LeaseSemaphore, lease_operations
from lease_ops.chalice_apps import app_folder
from lease_ops.table import DEFAULT_TABLE_NAME

WORKLOADS = {"analytics_app": "analytics", "batch_app": "batch"}


class RecordingClient:
    """Passes calls through to the real client and records each operation's name."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.operations: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.operations.add(name)
        return getattr(self._client, name)


def operations_of_a_full_lease_lifecycle(dynamodb: Any) -> set[str]:
    """The DynamoDB API actions the poll mode Lambdas call: acquire (all paths, re-polls too), renew, release."""
    recording = RecordingClient(dynamodb)
    clock = [1_800_000_000]
    leases = LeaseSemaphore(
        recording, DEFAULT_TABLE_NAME, "analytics", ttl_seconds=5, initial_cap=1, clock=lambda: clock[0]
    )
    lease_operations.acquire(leases, "a", wait_mode=lease_operations.POLL)
    leases.renew("a")
    lease_operations.acquire(leases, "b", wait_mode=lease_operations.POLL)
    clock[0] += 10
    # A re-poll (it has waited) reads first, then takes the slot over the expired holder.
    lease_operations.acquire(leases, "b", wait_mode=lease_operations.POLL, waiting_since=clock[0] - 10)
    lease_operations.release(leases, "b")
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

    assert statement["Resource"].endswith(":table/regional-concurrency-leases")
    assert statement["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{prefix}#*"]}}


@pytest.mark.parametrize("folder", list(WORKLOADS))
def test_no_statement_allows_every_action_or_every_resource(folder: str) -> None:
    for statement in policy(folder)["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert statement["Effect"] == "Allow"
        assert not any("*" in action for action in actions)
        assert "*" not in resources
