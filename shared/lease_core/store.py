"""The only place that talks to DynamoDB: one call wrapper that turns every failure into a typed error.

A conditional-check failure is an expected outcome of the lease protocol, so it
comes back as ``ConditionFailed`` carrying the item DynamoDB saw
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``); anything else is
``LeaseStoreUnavailable``. No raw ``ClientError`` leaves the core.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from lease_core.errors import LeaseStoreUnavailable
from lease_core.races import pause

_DESERIALIZER = TypeDeserializer()
CONFLICT_ATTEMPTS = 4
# Rounds a BatchGetItem asks again for the keys DynamoDB left unprocessed (throttled), pausing between them.
BATCH_READ_ROUNDS = 3


class _Conflict(Exception):
    """Internal: the write met a transaction in progress on the same item."""


@dataclass
class ConditionFailed(Exception):
    """The write's condition did not hold; ``item`` is what the table held (None if no item)."""

    item: dict[str, Any] | None


CONDITION_FAILED = "ConditionalCheckFailed"
# The cancellation reasons the protocol handles as a lost race; any other one (ThrottlingError, ValidationError,
# ItemCollectionSizeLimitExceeded...) is an error
# (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
PROTOCOL_CANCELLATIONS = frozenset({"None", CONDITION_FAILED, "TransactionConflict"})


@dataclass
class TransactionCancelled(Exception):
    """A TransactWriteItems was cancelled; ``reasons`` has each item's code ("None", "ConditionalCheckFailed",
    "TransactionConflict", ...), in the order of the items; ``items`` the item a failed condition saw, where the
    action asked for it (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), else None."""

    reasons: list[str]
    items: list[dict[str, Any] | None] = field(default_factory=list)

    def reason_of(self, index: int) -> str:
        return self.reasons[index] if index < len(self.reasons) else "None"

    def item_of(self, index: int) -> dict[str, Any] | None:
        return self.items[index] if index < len(self.items) else None


def used_names(names: dict[str, str], *expressions: str) -> dict[str, str]:
    """The placeholders the expressions use: DynamoDB refuses any it is given but does not use."""
    text = " ".join(expressions)
    return {
        placeholder: name
        for placeholder, name in names.items()
        if re.search(re.escape(placeholder) + r"(?![A-Za-z0-9_])", text)
    }


def plain_item(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """Turn a low-level DynamoDB item into plain Python values (numbers as Decimal)."""
    if item is None:
        return None
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}


class DynamoTable:
    """A table name bound to an injected low-level boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.name = table_name

    def call(self, operation: str, **request: Any) -> dict[str, Any]:
        """Run one DynamoDB operation on this table, translating failures into typed errors.

        A write that met a transaction in progress on its item (handoff mode's hand-overs) is tried
        again a few times after a short random pause: botocore does not retry that one itself.
        """
        if operation not in ("transact_write_items", "batch_get_item"):  # these name the table per item
            request = {"TableName": self.name, **request}
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                return self._call_once(operation, request)
            except _Conflict:
                if attempt == CONFLICT_ATTEMPTS - 1:
                    break
                time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
        raise LeaseStoreUnavailable(
            f"DynamoDB {operation} on table {self.name!r} failed: TransactionConflictException "
            f"{CONFLICT_ATTEMPTS} times in a row"
        )

    def get_many(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items at ``keys`` that exist (plain values), read strongly consistently in one BatchGetItem.

        Keys are de-duplicated (DynamoDB refuses a request that names one twice) and keys DynamoDB leaves
        unprocessed are asked again ``BATCH_READ_ROUNDS`` times; any still unanswered are left out, so a
        caller must read a missing item as "not known to exist" (at most 100 keys: its callers ask for 25).
        """
        found: list[dict[str, Any]] = []
        pending = list({(key["pk"]["S"], key["sk"]["S"]): key for key in keys}.values())
        for attempt in range(BATCH_READ_ROUNDS):
            if not pending:
                break
            response = self.call("batch_get_item", RequestItems={self.name: {"Keys": pending, "ConsistentRead": True}})
            found += [plain_item(raw) or {} for raw in response.get("Responses", {}).get(self.name, [])]
            pending = response.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", [])
            if pending:
                pause(attempt)
        return found

    def _call_once(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return getattr(self.client, operation)(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "Unknown")
            if code == "ConditionalCheckFailedException":
                raise ConditionFailed(plain_item(exc.response.get("Item"))) from exc
            if code == "TransactionConflictException":
                raise _Conflict from exc
            if code == "TransactionCanceledException":
                cancellations = exc.response.get("CancellationReasons", [])
                reasons = [reason.get("Code", "None") for reason in cancellations]
                unexpected = sorted(set(reasons) - PROTOCOL_CANCELLATIONS)
                if unexpected:  # throttled, invalid, too large...: not a lost race, an error to raise
                    raise LeaseStoreUnavailable(
                        f"DynamoDB {operation} on table {self.name!r} was cancelled: {', '.join(unexpected)}"
                    ) from exc
                refused_by = [plain_item(reason.get("Item")) for reason in cancellations]
                raise TransactionCancelled(reasons, refused_by) from exc
            raise LeaseStoreUnavailable(
                f"DynamoDB {operation} on table {self.name!r} failed: {code}: {error.get('Message', '')}"
            ) from exc
        except BotoCoreError as exc:
            raise LeaseStoreUnavailable(f"DynamoDB {operation} on table {self.name!r} failed: {exc}") from exc
