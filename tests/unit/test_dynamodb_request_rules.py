"""The request checker holds every DynamoDB request of the test suite to DynamoDB's rules, which moto does not.

Rules: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html (expression
parameters, items, transactions), https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
and the item sizes of https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from lease_core.item_layout import Entry, expired_at_most, semaphore_key
from tests.dynamodb_item_size import MAX_ITEM_BYTES, item_size
from tests.dynamodb_request_rules import RULES, request_violations
from tests.helpers import TABLE, aws_client

KEY = semaphore_key("analytics")
SCHEMA = ("pk", "sk")


def schema_of(table: str) -> tuple[str, str]:
    return SCHEMA


def admit_over_expired_request(expired: list[str]) -> dict[str, Any]:
    """An admission over expired holders as ``_admit_over_expired`` once built it: ``:expired`` sent even when
    no holder is removed, so that no expression uses it."""
    names = {"#h": "h", "#cap": "cap", "#k": "key0000001"}
    conditions = ["#cap = :cap", "size(#h) = :size"]
    removals = []
    for index, key in enumerate(expired):
        names[f"#e{index}"] = key
        removals.append(f"#h.#e{index}")
        conditions.append(f"#h.#e{index} <= :expired")
    update = "SET #h.#k = :lease" + (" REMOVE " + ", ".join(removals) if removals else "")
    return {
        "TableName": TABLE,
        "Key": KEY,
        "UpdateExpression": update,
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {
            ":lease": Entry(1_800_000_600).packed(),
            ":cap": {"N": "5"},
            ":size": {"N": "5"},
            ":expired": expired_at_most(1_800_000_000),
        },
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def item_of_bytes(size: int) -> dict[str, Any]:
    """An item of exactly ``size`` bytes, counted DynamoDB's way."""
    item = {**KEY, "blob": {"S": ""}}
    item["blob"] = {"S": "x" * (size - item_size(item))}
    assert item_size(item) == size
    return item


def update_action(holder: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": KEY,
            "UpdateExpression": "REMOVE #h.#k",
            "ExpressionAttributeNames": {"#h": "h", "#k": holder},
        }
    }


# -- the rules, as a pure function -------------------------------------------------------------------


def test_a_value_no_expression_uses_is_refused_as_dynamodb_refuses_it() -> None:
    problems = request_violations("UpdateItem", admit_over_expired_request(expired=[]))

    assert problems == ["Value provided in ExpressionAttributeValues unused in expressions: keys: {:expired}"]


def test_the_same_request_is_accepted_once_an_expression_uses_every_value() -> None:
    assert request_violations("UpdateItem", admit_over_expired_request(expired=["old"])) == []


def test_a_name_no_expression_uses_and_a_placeholder_never_defined_are_refused() -> None:
    request = {
        "TableName": TABLE,
        "Key": KEY,
        "UpdateExpression": "SET #cap = :cap",
        "ConditionExpression": "attribute_exists(#h)",
        "ExpressionAttributeNames": {"#cap": "cap", "#waiting": "waiting"},
        "ExpressionAttributeValues": {":cap": {"N": "3"}},
    }

    problems = request_violations("UpdateItem", request)

    assert "Value provided in ExpressionAttributeNames unused in expressions: keys: {#waiting}" in problems
    assert any("attribute name: #h" in problem and "not defined" in problem for problem in problems)


def test_an_empty_placeholder_map_is_refused() -> None:
    request = {"TableName": TABLE, "Key": KEY, "ProjectionExpression": "pk", "ExpressionAttributeNames": {}}

    assert request_violations("GetItem", request) == ["ExpressionAttributeNames must not be empty"]


def test_a_query_key_condition_must_use_its_placeholders_too() -> None:
    request = {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :partition",
        "ExpressionAttributeValues": {":partition": {"S": "analytics#waiters"}, ":limit": {"N": "1"}},
    }

    assert request_violations("Query", request) == [
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:limit}"
    ]


def test_an_expression_of_4_kb_is_accepted_and_one_byte_more_is_refused() -> None:
    def with_condition(length: int) -> dict[str, Any]:
        condition = "attribute_exists(pk)"
        condition += " AND attribute_exists(pk)" * ((length - len(condition)) // 25)
        condition += " " * (length - len(condition))  # pad to the exact length: whitespace counts
        assert len(condition.encode()) == length
        return {"TableName": TABLE, "Key": KEY, "ConditionExpression": condition}

    assert request_violations("DeleteItem", with_condition(4096)) == []
    (problem,) = request_violations("DeleteItem", with_condition(4097))
    assert problem.startswith("Invalid ConditionExpression: Expression size has exceeded the maximum allowed size")


def test_an_expression_is_measured_in_utf8_bytes() -> None:
    name = "\U00020000" * 1100  # 1,100 characters, 4,400 bytes
    request = {"TableName": TABLE, "Key": KEY, "ProjectionExpression": name}

    (problem,) = request_violations("GetItem", request)
    assert "expression size: 4400 bytes" in problem


def test_an_item_of_400_kb_is_accepted_and_one_byte_more_is_refused() -> None:
    assert request_violations("PutItem", {"TableName": TABLE, "Item": item_of_bytes(MAX_ITEM_BYTES)}) == []

    (problem,) = request_violations("PutItem", {"TableName": TABLE, "Item": item_of_bytes(MAX_ITEM_BYTES + 1)})
    assert problem.startswith("Item: Item size has exceeded the maximum allowed size: 409601 bytes")


def test_an_item_is_measured_in_utf8_bytes_with_map_overhead() -> None:
    # 400 map keys of 256 four-byte characters: 102,400 characters, over 400 KB.
    entries = {chr(0x20000 + index) * 256: Entry(1_800_000_600, 9999).packed() for index in range(400)}
    item = {**KEY, "cap": {"N": "1000"}, "h": {"M": entries}}
    assert sum(len(key) for key in entries) < MAX_ITEM_BYTES

    (problem,) = request_violations("PutItem", {"TableName": TABLE, "Item": item})
    assert "Item size has exceeded the maximum allowed size" in problem


def test_an_update_value_too_big_for_any_item_is_refused() -> None:
    request = {
        "TableName": TABLE,
        "Key": KEY,
        "UpdateExpression": "SET #blob = :blob",
        "ExpressionAttributeNames": {"#blob": "blob"},
        "ExpressionAttributeValues": {":blob": {"S": "x" * (MAX_ITEM_BYTES + 1)}},
    }

    (problem,) = request_violations("UpdateItem", request)
    assert problem.startswith("Item size has exceeded the maximum allowed size: :blob")


def test_a_transaction_may_not_touch_one_item_twice() -> None:
    request = {"TransactItems": [update_action("h1"), update_action("h2")]}

    (problem,) = request_violations("TransactWriteItems", request, schema_of)
    assert "Transaction request cannot include multiple operations on one item" in problem
    assert problem.startswith("TransactItems[1].Update")


def test_a_put_and_an_update_of_the_same_key_are_the_same_item() -> None:
    put = {"Put": {"TableName": TABLE, "Item": {**KEY, "cap": {"N": "1"}}}}

    (problem,) = request_violations("TransactWriteItems", {"TransactItems": [update_action("h1"), put]}, schema_of)
    assert "multiple operations on one item" in problem


def test_a_transaction_has_at_most_100_actions() -> None:
    def actions(count: int) -> list[dict[str, Any]]:
        return [
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": semaphore_key(f"p{index}"),
                    "ConditionExpression": "pk = pk",
                }
            }
            for index in range(count)
        ]

    assert request_violations("TransactWriteItems", {"TransactItems": actions(100)}, schema_of) == []
    (problem,) = request_violations("TransactWriteItems", {"TransactItems": actions(101)}, schema_of)
    assert "Member must have length less than or equal to 100" in problem


def test_a_transaction_is_at_most_4_mb() -> None:
    puts = [
        {"Put": {"TableName": TABLE, "Item": {**item_of_bytes(400_000), "pk": {"S": f"p{index}#x"}}}}
        for index in range(11)
    ]

    problems = request_violations("TransactWriteItems", {"TransactItems": puts}, schema_of)
    assert problems and problems[-1].startswith("Transaction request cannot be larger than 4 MB")


def test_a_transactional_read_may_not_read_one_item_twice() -> None:
    get = {"Get": {"TableName": TABLE, "Key": KEY}}

    (problem,) = request_violations("TransactGetItems", {"TransactItems": [get, get]})
    assert "multiple operations on one item" in problem


def test_a_batch_write_has_at_most_25_requests() -> None:
    def deletes(count: int) -> dict[str, Any]:
        return {"RequestItems": {TABLE: [{"DeleteRequest": {"Key": semaphore_key(f"p{i}")}} for i in range(count)]}}

    assert request_violations("BatchWriteItem", deletes(25)) == []
    (problem,) = request_violations("BatchWriteItem", deletes(26))
    assert problem.startswith("Too many items requested for the BatchWriteItem call")


def test_a_key_attribute_may_not_be_empty_or_over_its_limit() -> None:
    empty = {"TableName": TABLE, "Key": {"pk": {"S": ""}, "sk": {"S": "x"}}}
    long_sort_key = {"TableName": TABLE, "Key": {"pk": {"S": "x"}, "sk": {"S": "y" * 1025}}}

    assert "cannot contain an empty string value" in request_violations("GetItem", empty)[0]
    assert "'sk' is 1025 bytes (at most 1024)" in request_violations("GetItem", long_sort_key, schema_of)[0]


def test_a_valid_request_breaks_no_rule() -> None:
    request = {
        "TableName": TABLE,
        "Key": KEY,
        "UpdateExpression": "SET #h.#k = :lease",
        "ConditionExpression": "attribute_exists(#h.#k) OR size(#h) < #cap",
        "ExpressionAttributeNames": {"#h": "h", "#k": "key0000001", "#cap": "cap"},
        "ExpressionAttributeValues": {":lease": Entry(1_800_000_600, 1234).packed()},
    }

    assert request_violations("UpdateItem", request, schema_of) == []


# -- the hook: every client of the test process ------------------------------------------------------


def unreachable_client() -> Any:
    """A client whose requests could reach nothing: a refused request never leaves the process anyway."""
    return aws_client(
        "dynamodb", endpoint_url="http://127.0.0.1:9", config=Config(retries={"max_attempts": 1}, connect_timeout=1)
    )


def test_a_request_with_an_unused_value_is_answered_with_dynamodbs_validation_exception() -> None:
    with RULES.expected() as violations, pytest.raises(ClientError) as raised:
        unreachable_client().update_item(**admit_over_expired_request(expired=[]))

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "unused in expressions: keys: {:expired}" in raised.value.response["Error"]["Message"]
    assert [violation.operation for violation in violations] == ["UpdateItem"]


def test_a_valid_request_goes_through_unchanged_to_a_stubber_too() -> None:
    client = aws_client("dynamodb")
    request = admit_over_expired_request(expired=["old"])

    with Stubber(client) as stubber, RULES.expected() as violations:
        stubber.add_response("update_item", {}, request)
        client.update_item(**request)

    assert violations == []
    stubber.assert_no_pending_responses()


def test_a_request_to_a_stubber_is_checked_too() -> None:
    client = aws_client("dynamodb")
    request = admit_over_expired_request(expired=[])

    with Stubber(client) as stubber, RULES.expected() as violations, pytest.raises(ClientError):
        stubber.add_response("update_item", {}, request)
        client.update_item(**request)

    assert len(violations) == 1


def test_a_violation_is_recorded_even_when_the_caller_swallows_the_error() -> None:
    # The lease core turns the error into LeaseStoreUnavailable, which a caller may retry or ignore.
    with RULES.expected() as violations, contextlib.suppress(ClientError):
        unreachable_client().transact_write_items(TransactItems=[update_action("h1"), update_action("h2")])

    (violation,) = violations
    assert "multiple operations on one item" in violation.message
