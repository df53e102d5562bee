"""How the one DynamoDB call wrapper turns a cancelled transaction into the protocol's outcomes or an error.

DynamoDB answers a cancelled TransactWriteItems with one CancellationReasons entry per item, in order: ``None``,
``ConditionalCheckFailed``, ``TransactionConflict``, ``ThrottlingError``, ``ValidationError``, ...
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html). moto never
answers the conflict or throttling ones, so the answers are built here as DynamoDB documents them.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from lease_core.errors import LeaseStoreUnavailable
from lease_core.store import DynamoTable, TransactionCancelled


class CancellingClient:
    """A client whose every TransactWriteItems is cancelled with these reasons, as DynamoDB answers it."""

    def __init__(self, *reasons: str) -> None:
        self.reasons = reasons

    def transact_write_items(self, **request: Any) -> dict[str, Any]:
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": [{"Code": reason} for reason in self.reasons],
            },
            "TransactWriteItems",
        )


@pytest.mark.parametrize(
    "reasons", [("ConditionalCheckFailed", "None"), ("None", "TransactionConflict"), ("TransactionConflict",)]
)
def test_a_transaction_cancelled_by_a_condition_or_a_conflict_is_a_lost_race_the_protocol_handles(
    reasons: tuple[str, ...],
) -> None:
    with pytest.raises(TransactionCancelled) as cancelled:
        DynamoTable(CancellingClient(*reasons), "leases").call("transact_write_items", TransactItems=[])

    assert cancelled.value.reasons == list(reasons)


@pytest.mark.parametrize("reason", ["ThrottlingError", "ValidationError", "ItemCollectionSizeLimitExceeded"])
def test_a_transaction_cancelled_for_any_other_reason_is_an_unavailable_store_naming_it(reason: str) -> None:
    with pytest.raises(LeaseStoreUnavailable, match=reason):
        DynamoTable(CancellingClient("None", reason), "leases").call("transact_write_items", TransactItems=[])
