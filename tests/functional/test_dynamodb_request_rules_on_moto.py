"""The request checker sees every DynamoDB client of the test process, and what moto lets through.

moto accepts an update whose item passes 400 KB counted DynamoDB's way (it counts numbers by their digits
and no map overhead) and an ExpressionAttributeValues entry no expression uses; DynamoDB refuses both with a
ValidationException: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-items
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lease_core import aws_clients
from lease_core.item_layout import semaphore_key
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from tests.dynamodb_item_size import MAX_ITEM_BYTES, item_size
from tests.dynamodb_request_rules import RULES
from tests.helpers import REGION, lease_table_client

KEY = semaphore_key("analytics")


def unused_value_request() -> dict[str, Any]:
    return {
        "TableName": DEFAULT_TABLE_NAME,
        "Key": KEY,
        "UpdateExpression": "SET #cap = :cap",
        "ExpressionAttributeNames": {"#cap": "cap"},
        "ExpressionAttributeValues": {":cap": {"N": "3"}, ":now": {"N": "1800000000"}},
    }


# An item DynamoDB refuses and moto keeps: moto's limit is 405,000 of its bytes, but it counts no byte per
# map element. 6,000 flags are 42,003 bytes to DynamoDB (5-byte name, value, element byte; 3 for the map),
# 36,000 to moto; with a 368,000-byte string the item is over 409,600 bytes to DynamoDB, under 405,000 to moto.
FLAGS = {"M": {f"f{index:04d}": {"BOOL": True} for index in range(6_000)}}
TEXT = {"S": "x" * 368_000}


def grow_past_dynamodbs_limit(client: Any) -> None:
    """Two updates, each well within DynamoDB's limits, that leave the item over 400 KB."""
    for attribute, value in (("text", TEXT), ("flags", FLAGS)):
        client.update_item(
            TableName=DEFAULT_TABLE_NAME,
            Key=KEY,
            UpdateExpression="SET #part = :part",
            ExpressionAttributeNames={"#part": attribute},
            ExpressionAttributeValues={":part": value},
        )


def test_an_update_that_leaves_an_item_over_400_kb_fails_the_test_though_moto_accepts_it(dynamodb: Any) -> None:
    with RULES.expected() as violations:
        grow_past_dynamodbs_limit(dynamodb)

    item = dynamodb.get_item(TableName=DEFAULT_TABLE_NAME, Key=KEY)["Item"]
    assert item_size(item) > MAX_ITEM_BYTES  # moto stored it all the same
    (violation,) = violations
    assert violation.where == "result"
    assert "Item size to update has exceeded the maximum allowed size" in violation.message


def test_a_transaction_update_that_leaves_an_item_over_400_kb_is_caught_too(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=DEFAULT_TABLE_NAME, Item={**KEY, "text": TEXT})
    other = semaphore_key("batch")

    with RULES.expected() as violations:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": DEFAULT_TABLE_NAME,
                        "Key": KEY,
                        "UpdateExpression": "SET #part = :part",
                        "ExpressionAttributeNames": {"#part": "flags"},
                        "ExpressionAttributeValues": {":part": FLAGS},
                    }
                },
                {"Put": {"TableName": DEFAULT_TABLE_NAME, "Item": {**other, "cap": {"N": "1"}}}},
            ]
        )

    (violation,) = violations
    assert violation.message.startswith("TransactItems[0].Update: Item size to update has exceeded")


def _boto3_client() -> Any:
    return boto3.client("dynamodb", region_name=REGION)


def _session_client() -> Any:
    return boto3.Session().client("dynamodb", region_name=REGION)


def _lease_core_client() -> Any:
    return aws_clients.client_for("dynamodb", {"AWS_REGION": REGION})


def _client_made_in_a_thread() -> Any:
    made: list[Any] = []
    thread = threading.Thread(
        target=lambda: made.append(boto3.session.Session().client("dynamodb", region_name=REGION))
    )
    thread.start()
    thread.join()
    return made[0]


@pytest.mark.parametrize(
    "make_client",
    [_boto3_client, _session_client, _lease_core_client, _client_made_in_a_thread],
    ids=lambda f: f.__name__,
)
def test_every_way_of_making_a_client_is_checked(dynamodb: Any, make_client: Callable[[], Any]) -> None:
    client = make_client()
    errors: list[ClientError] = []

    def send() -> None:
        try:
            client.update_item(**unused_value_request())
        except ClientError as error:
            errors.append(error)

    with RULES.expected() as violations:
        sender = threading.Thread(target=send)  # a request sent from another thread is recorded all the same
        sender.start()
        sender.join()

    assert [error.response["Error"]["Code"] for error in errors] == ["ValidationException"]
    assert [violation.message for violation in violations] == [
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:now}"
    ]
    assert "Item" not in dynamodb.get_item(TableName=DEFAULT_TABLE_NAME, Key=KEY)  # refused: nothing written


def test_requests_to_the_moto_server_are_checked_and_their_results_read(moto_endpoint: str) -> None:
    client = lease_table_client(endpoint_url=moto_endpoint)

    with RULES.expected() as violations:
        with pytest.raises(ClientError):
            client.update_item(**unused_value_request())
        grow_past_dynamodbs_limit(client)

    assert [violation.where for violation in violations] == ["request", "result"]
