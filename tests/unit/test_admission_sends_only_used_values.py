"""Admission over expired holders sends DynamoDB only the expression values its expressions use.

DynamoDB refuses an ExpressionAttributeValues entry that no expression of the request uses ("Value
provided in ExpressionAttributeValues unused in expressions", a ValidationException); moto accepts it.
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ExpressionAttributeValues.html
The request checker of tests/conftest.py answers such a request as DynamoDB does.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber

from lease_core import Acquired, LeaseSemaphore
from lease_core.lease_entry import lease_value

NOW = 1_800_000_000


def test_a_retry_that_finds_no_expired_holder_sends_no_now_value() -> None:
    """The first admission write fails, and the item it returns has room and no expired holder (a race
    the next write may win): the second write then removes nobody and must not send ``:now``."""
    client = boto3.client("dynamodb", region_name="eu-central-1")
    leases = LeaseSemaphore(client, "regional-concurrency-leases", "analytics", initial_cap=5, clock=lambda: NOW)
    seen: dict[str, Any] = {
        "pk": {"S": "analytics#semaphore"},
        "sk": {"S": "semaphore"},
        "cap": {"N": "5"},
        "holders": {"M": {"other": lease_value(NOW - 10, NOW + 590)}},
    }
    sent: list[dict[str, Any]] = []
    client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", lambda params, **_: sent.append(params))

    with Stubber(client) as stubber:
        stubber.add_client_error(
            "update_item",
            service_error_code="ConditionalCheckFailedException",
            http_status_code=400,
            response_meta={},
            modeled_fields={"Item": seen},
        )
        stubber.add_response("update_item", {})
        outcome = leases.acquire("run-1")

        stubber.assert_no_pending_responses()

    assert outcome == Acquired("run-1", "analytics", NOW + 600)
    second = sent[1]
    assert "REMOVE" not in second["UpdateExpression"]
    assert set(second["ExpressionAttributeValues"]) == {":lease", ":cap", ":size"}


def test_a_retry_that_removes_an_expired_holder_sends_now_to_recheck_it() -> None:
    client = boto3.client("dynamodb", region_name="eu-central-1")
    leases = LeaseSemaphore(client, "regional-concurrency-leases", "analytics", initial_cap=1, clock=lambda: NOW)
    seen = {
        "pk": {"S": "analytics#semaphore"},
        "sk": {"S": "semaphore"},
        "cap": {"N": "1"},
        "holders": {"M": {"gone": lease_value(NOW - 700, NOW - 100)}},
    }
    sent: list[dict[str, Any]] = []
    client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", lambda params, **_: sent.append(params))

    with Stubber(client) as stubber:
        stubber.add_client_error(
            "update_item", service_error_code="ConditionalCheckFailedException", modeled_fields={"Item": seen}
        )
        stubber.add_response("update_item", {})
        assert isinstance(leases.acquire("run-1"), Acquired)

    second = sent[1]
    assert second["UpdateExpression"] == "SET #holders.#holder = :lease REMOVE #holders.#e0"
    assert second["ExpressionAttributeValues"][":now"] == {"N": str(NOW)}
