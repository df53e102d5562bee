"""The shared lease table's shape: the one definition every tool and test creates it from."""

from __future__ import annotations

from typing import Any

DEFAULT_TABLE_NAME = "regional-concurrency-leases"
TTL_ATTRIBUTE = "ttl"
KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
]


def create_lease_table(client: Any, table_name: str = DEFAULT_TABLE_NAME) -> None:
    """Create the on-demand table with TTL on ``ttl`` and wait until it is active."""
    client.create_table(
        TableName=table_name,
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=ATTRIBUTE_DEFINITIONS,
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )
