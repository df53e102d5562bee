"""Admission over expired holders sends DynamoDB only the expression values its expressions use.

DynamoDB refuses an ExpressionAttributeValues entry that no expression of the request uses ("Value
provided in ExpressionAttributeValues unused in expressions", a ValidationException); moto accepts it.
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ExpressionAttributeValues.html
The request checker of tests/conftest.py answers such a request as DynamoDB does.
"""

from __future__ import annotations

from typing import Any

from botocore.stub import Stubber

from lease_core import Acquired
from lease_core.item_layout import Entry, expired_at_most, holder_key
from tests.helpers import NOW, aws_client, lease_semaphore, map_layout_item


def test_a_retry_that_finds_no_expired_holder_sends_no_expiry_bound() -> None:
    """The first admission write fails, and the item it returns has room and no expired holder (a race
    the next write may win): the second write then removes nobody and must not send ``:expired``."""
    client = aws_client("dynamodb")
    leases = lease_semaphore(client, cap=5, clock=NOW)
    seen = map_layout_item(5, {"other-key0": Entry(NOW + 590)})
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


def test_a_retry_that_removes_an_expired_holder_sends_the_expiry_bound_to_recheck_it() -> None:
    client = aws_client("dynamodb")
    leases = lease_semaphore(client, cap=1, clock=NOW)
    seen = map_layout_item(1, {"gone-key00": Entry(NOW - 100)})
    sent: list[dict[str, Any]] = []
    client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", lambda params, **_: sent.append(params))

    with Stubber(client) as stubber:
        stubber.add_client_error(
            "update_item", service_error_code="ConditionalCheckFailedException", modeled_fields={"Item": seen}
        )
        stubber.add_response("update_item", {})
        assert isinstance(leases.acquire("run-1"), Acquired)

    second = sent[1]
    assert second["UpdateExpression"] == "SET #h.#k = :lease REMOVE #h.#e0"
    assert second["ExpressionAttributeNames"]["#e0"] == "gone-key00"
    assert second["ExpressionAttributeNames"]["#k"] == holder_key("run-1")
    assert second["ExpressionAttributeValues"][":expired"] == expired_at_most(NOW)
