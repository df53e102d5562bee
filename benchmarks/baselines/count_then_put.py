"""Count-then-put, the design of the popular Terraform module.

One item per lease under the workload's partition (``pk = <prefix>``,
``sk = <holder>``, with an expiry). To acquire: a strongly consistent Query
counts the unexpired lease items of the prefix; if the count is below the cap,
a PutItem writes a new lease item. To release: DeleteItem. Waiting executions
poll with a Wait state.

Known behaviour, kept: the count and the put are two requests, so any number of
callers that counted before the first put landed are all admitted (N + k); the
Query reads every lease item of the prefix, so its cost grows with the holders.
"""

from __future__ import annotations

import time
from typing import Any

WAIT_SECONDS = 5.0
KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
ATTRIBUTES = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}]


class CountThenPut:
    name = "count-then-put"
    wait_seconds = WAIT_SECONDS

    def __init__(self, client: Any, table: str, prefix: str, cap: int, ttl_seconds: int = 600) -> None:
        self.client = client
        self.table = table
        self.prefix = prefix
        self.cap = cap
        self.ttl_seconds = ttl_seconds

    @staticmethod
    def create_table(client: Any, table: str) -> None:
        client.create_table(
            TableName=table, KeySchema=KEY_SCHEMA, AttributeDefinitions=ATTRIBUTES, BillingMode="PAY_PER_REQUEST"
        )

    def set_cap(self, cap: int) -> None:
        self.cap = cap  # the cap is baked into each deployment: nothing in the table

    def active(self) -> int:
        """The count step: unexpired lease items of the prefix."""
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :prefix",
            FilterExpression="expires_at > :now",
            ExpressionAttributeValues={":prefix": {"S": self.prefix}, ":now": {"N": str(int(time.time()))}},
            Select="COUNT",
            ConsistentRead=True,
        )
        return int(response["Count"])

    def acquire(self, holder: str) -> bool:
        if self.active() >= self.cap:
            return False
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": self.prefix},
                "sk": {"S": holder},
                "expires_at": {"N": str(int(time.time()) + self.ttl_seconds)},
            },
        )
        return True

    def release(self, holder: str) -> None:
        self.client.delete_item(TableName=self.table, Key={"pk": {"S": self.prefix}, "sk": {"S": holder}})
