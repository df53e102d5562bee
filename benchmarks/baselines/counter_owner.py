"""Counter-and-owner item, the design of the AWS sample "control concurrency with DynamoDB".

One item per lock (``LockName``) holding ``currentlockcount`` and one attribute
per owner (the execution ARN, valued with the time it acquired). To acquire: an
UpdateItem increments the counter and adds the owner attribute, on condition
``currentlockcount <> :limit and attribute_not_exists(owner)``. A missing item
fails the update (ValidationException) and is created with a count of 0. A
failed condition is retried by the state machine 6 times with backoff rate 2,
then the item is read (GetItem) to see whether this owner already holds it,
and otherwise the execution waits 3 seconds. To release: decrement and remove
the owner, on condition that the owner attribute exists.

Known behaviour, kept: the limit is compared with ``<>``, so once the counter is
above the limit (the limit lowered, or a counter that drifted) every acquire
succeeds; the limit is baked into the deployment; a lock whose release never
runs is held forever (no expiry); the item grows with every holder.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

WAIT_SECONDS = 3.0
RETRIES = 6
BACKOFF_RATE = 2.0
INTERVAL_SECONDS = 1.0


class CounterOwner:
    name = "counter-and-owner"
    wait_seconds = WAIT_SECONDS

    def __init__(
        self, client: Any, table: str, prefix: str, cap: int, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.client = client
        self.table = table
        self.lock_name = prefix
        self.cap = cap
        self.sleep = sleep  # the state machine's Retry delays, in workflow seconds

    @staticmethod
    def create_table(client: Any, table: str) -> None:
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "LockName", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockName", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    def set_cap(self, cap: int) -> None:
        self.cap = cap  # ConcurrentAccessLimit is a deployment parameter

    def _update(self, holder: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key={"LockName": {"S": self.lock_name}},
            ExpressionAttributeNames={"#currentlockcount": "currentlockcount", "#lockownerid": holder},
            ExpressionAttributeValues={
                ":increase": {"N": "1"},
                ":limit": {"N": str(self.cap)},
                ":lockacquiredtime": {"S": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
            },
            UpdateExpression="SET #currentlockcount = #currentlockcount + :increase, #lockownerid = :lockacquiredtime",
            ConditionExpression="currentlockcount <> :limit and attribute_not_exists(#lockownerid)",
            ReturnValues="UPDATED_NEW",
        )

    def _initialize(self) -> None:
        # "Catch States.ALL → Acquire Lock": a failure means someone else created it first.
        with contextlib.suppress(ClientError):
            self.client.put_item(
                TableName=self.table,
                Item={"LockName": {"S": self.lock_name}, "currentlockcount": {"N": "0"}},
                ConditionExpression="LockName <> :lockname",
                ExpressionAttributeValues={":lockname": {"S": self.lock_name}},
            )

    def acquire(self, holder: str) -> bool:
        """One pass of the sample's Acquire Lock: the update and its retries, then the ownership check."""
        for attempt in range(RETRIES + 1):
            try:
                self._update(holder)
                return True
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                if code == "ValidationException":  # no item yet: Initialize Lock Item, then Acquire Lock again
                    self._initialize()
                    continue
                if code != "ConditionalCheckFailedException" or attempt == RETRIES:
                    break
                self.sleep(INTERVAL_SECONDS * BACKOFF_RATE**attempt)
        item = self.client.get_item(
            TableName=self.table,
            Key={"LockName": {"S": self.lock_name}},
            ProjectionExpression="#lockownerid",
            ExpressionAttributeNames={"#lockownerid": holder},
        ).get("Item", {})
        return holder in item  # "Check If Lock Already Acquired"

    def release(self, holder: str) -> None:
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"LockName": {"S": self.lock_name}},
                ExpressionAttributeNames={"#currentlockcount": "currentlockcount", "#lockownerid": holder},
                ExpressionAttributeValues={":decrease": {"N": "1"}},
                UpdateExpression="SET #currentlockcount = #currentlockcount - :decrease REMOVE #lockownerid",
                ConditionExpression="attribute_exists(#lockownerid)",
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
