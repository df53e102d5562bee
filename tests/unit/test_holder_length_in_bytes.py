"""Holder ids and task tokens are measured in UTF-8 bytes, the unit of DynamoDB's limits, not in characters.

A holder is a key of the semaphore item's ``holders`` map, so its bytes count against DynamoDB's 400 KB
item limit: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
"""

from __future__ import annotations

import pytest

from lease_core import InvalidLeaseRequest
from lease_core.lambda_functions import _task_token
from lease_core.validation import MAX_HOLDER_BYTES, validate_holder
from tests.helpers import NoCallsClient, lease_semaphore

FOUR_BYTES = "\U00020000"  # a CJK ideograph outside the Basic Multilingual Plane: 4 bytes in UTF-8


@pytest.mark.parametrize(
    "holder",
    ["a" * 256, "ü" * 128, FOUR_BYTES * 64, "arn:aws:states:eu-central-1:1:execution:wf:" + "€" * 71],
)
def test_a_holder_of_up_to_256_bytes_is_accepted_whatever_its_characters(holder: str) -> None:
    assert len(holder.encode("utf-8")) <= MAX_HOLDER_BYTES
    assert validate_holder(holder) == holder


@pytest.mark.parametrize(
    ("holder", "characters", "size"),
    [("a" * 257, 257, 257), ("ü" * 129, 129, 258), (FOUR_BYTES * 65, 65, 260), ("x" + FOUR_BYTES * 64, 65, 257)],
)
def test_a_holder_over_256_bytes_is_refused_even_with_fewer_characters(holder: str, characters: int, size: int) -> None:
    with pytest.raises(InvalidLeaseRequest, match=f"at most 256 bytes in UTF-8, got {size} bytes \\({characters} char"):
        validate_holder(holder)


def test_the_semaphore_refuses_a_long_holder_before_any_dynamodb_call() -> None:
    semaphore = lease_semaphore(NoCallsClient(), cap=5)

    for operation in ("acquire", "release", "renew"):
        with pytest.raises(InvalidLeaseRequest, match="at most 256 bytes"):
            getattr(semaphore, operation)(FOUR_BYTES * 65)


def test_a_task_token_is_measured_in_bytes_too() -> None:
    assert _task_token({"task_token": "t" * 2048}) == "t" * 2048
    assert _task_token({"task_token": FOUR_BYTES * 512}) == FOUR_BYTES * 512

    for token in ("t" * 2049, FOUR_BYTES * 513, "", "tab\there", 42):
        with pytest.raises(InvalidLeaseRequest, match="1-2048 bytes in UTF-8"):
            _task_token({"task_token": token})
