"""The largest semaphore item the validators allow fits DynamoDB's 400 KB item limit, counted DynamoDB's way.

A prefix keeps every holder in one item (``lease_core.semaphore``), so the item grows with the cap and the
holder ids. DynamoDB refuses a write whose item would pass 400 KB, counting attribute names and values,
map keys included, in UTF-8 bytes, numbers at about one byte per two digits, and 3 bytes per map plus one
per element: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
(the limit: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-items).
moto counts differently (numbers by their digits, no map overhead), so the sizes here come from
``tests/dynamodb_item_size``, and the request checker of ``tests/conftest.py`` holds every write of these
tests, and the item it leaves in moto, to the limit.
"""

from __future__ import annotations

from typing import Any

import pytest

from lease_core import Acquired, LeaseSemaphore, MustWait
from lease_core.lease_entry import GRANT_LENGTH, lease_value, new_grant
from lease_core.semaphore import semaphore_key
from lease_core.validation import MAX_CAP, MAX_HOLDER_BYTES, MAX_TTL_SECONDS, validate_cap, validate_holder
from lease_core.waiting_room import WaitingRoom
from lease_ops.table import DEFAULT_TABLE_NAME
from tests.dynamodb_item_size import MAX_ITEM_BYTES, MAX_NUMBER_BYTES, item_size, number_size
from tests.dynamodb_request_rules import request_violations

LONGEST_PREFIX = "p" * 48  # ^[a-z][a-z0-9-]{0,47}$
# 38 significant digits, the most a DynamoDB number has, starting on an odd power of ten: its widest encoding.
WIDEST_NUMBER = int("9" * 38) * 10
# Every attribute the core writes to a semaphore item (lease_core.semaphore, lease_core.waiting_room).
SEMAPHORE_ATTRIBUTES = {"pk", "sk", "cap", "holders", "waiting", "enqueued", "task_seconds", "lease_seconds"}
NOW = 1_800_000_000


def longest_holder(index: int) -> str:
    """A distinct holder id of the most bytes allowed, made of 4-byte characters (CJK Extension B)."""
    holder = chr(0x20000 + index) * (MAX_HOLDER_BYTES // 4)
    assert len(holder.encode("utf-8")) == MAX_HOLDER_BYTES
    return validate_holder(holder)


def largest_semaphore_item(holder_of: Any = longest_holder) -> dict[str, Any]:
    """The semaphore item at its largest: every attribute the core writes, each as wide as it can be."""
    grant = new_grant()
    assert len(grant) == GRANT_LENGTH
    entry = lease_value(WIDEST_NUMBER, WIDEST_NUMBER, grant)  # a handed-over slot's entry: "a", "e" and "g"
    widest = {"N": str(WIDEST_NUMBER)}
    return {
        **semaphore_key(LONGEST_PREFIX),
        "cap": {"N": str(MAX_CAP)},
        "holders": {"M": {holder_of(index): entry for index in range(MAX_CAP)}},
        "waiting": widest,  # counters that only grow: sized at their widest
        "enqueued": widest,
        "task_seconds": {"N": str(MAX_TTL_SECONDS)},
        "lease_seconds": {"N": str(MAX_TTL_SECONDS)},
    }


def test_the_maximum_cap_is_the_largest_the_validator_allows() -> None:
    assert validate_cap(MAX_CAP) == MAX_CAP
    with pytest.raises(Exception, match="cap must be a whole number from 1 to 1000"):
        validate_cap(MAX_CAP + 1)


def test_the_largest_semaphore_item_fits_dynamodbs_item_limit() -> None:
    item = largest_semaphore_item()
    assert set(item) == SEMAPHORE_ATTRIBUTES
    assert number_size(item["waiting"]["N"]) == MAX_NUMBER_BYTES

    size = item_size(item)

    # 1,000 holders x (256-byte id + 1 element byte + a 3-byte map of a, e, g) plus the other attributes.
    assert size <= MAX_ITEM_BYTES, f"{size} bytes, over DynamoDB's {MAX_ITEM_BYTES}: lower MAX_CAP or MAX_HOLDER_BYTES"
    assert MAX_ITEM_BYTES - size > 80_000  # room left: about 80 more bytes per holder
    assert request_violations("PutItem", {"TableName": DEFAULT_TABLE_NAME, "Item": item}) == []


def test_holder_ids_counted_in_characters_would_not_fit() -> None:
    # The old rule, 256 characters, allowed 1,024 bytes per holder: the item passes 400 KB near 390 holders.
    def holder_of_256_characters(index: int) -> str:
        return chr(0x20000 + index) * 256

    size = item_size(largest_semaphore_item(holder_of_256_characters))

    assert size > 2.5 * MAX_ITEM_BYTES
    with pytest.raises(Exception, match="at most 256 bytes"):
        validate_holder(holder_of_256_characters(0))


def test_the_core_admits_and_hands_over_at_the_largest_item_within_dynamodbs_limit(dynamodb: Any) -> None:
    """The real core's writes on a full semaphore of the longest holder ids, each checked by the request checker.

    The first holders are written in one request with the core's own lease entries (``lease_value``, with a
    grant each, as a hand-over writes them): admitting 1,000 holders one by one costs moto about 95 s of
    copying the growing item, and changes nothing that the last admissions below do not show. The last
    admission, a refused newcomer, a queued waiter and a hand-over then run through the core on the full item.
    """
    leases = LeaseSemaphore(
        dynamodb,
        DEFAULT_TABLE_NAME,
        LONGEST_PREFIX,
        ttl_seconds=MAX_TTL_SECONDS,
        initial_cap=MAX_CAP,
        clock=lambda: NOW,
    )
    assert isinstance(leases.acquire(longest_holder(0)), Acquired)  # creates the semaphore at the maximum cap
    leases.configure_timings(task_seconds=MAX_TTL_SECONDS, lease_seconds=MAX_TTL_SECONDS)
    entries = {
        longest_holder(index): lease_value(NOW, NOW + MAX_TTL_SECONDS, new_grant()) for index in range(MAX_CAP - 1)
    }
    dynamodb.update_item(
        TableName=DEFAULT_TABLE_NAME,
        Key=semaphore_key(LONGEST_PREFIX),
        UpdateExpression="SET #holders = :holders",
        ExpressionAttributeNames={"#holders": "holders"},
        ExpressionAttributeValues={":holders": {"M": entries}},
    )

    last, newcomer = longest_holder(MAX_CAP - 1), longest_holder(MAX_CAP)
    assert leases.acquire(last) == Acquired(last, LONGEST_PREFIX, NOW + MAX_TTL_SECONDS)
    assert leases.acquire(newcomer) == MustWait(active=MAX_CAP, cap=MAX_CAP)
    room = WaitingRoom(leases)
    assert room.enqueue(newcomer, "task-token") is not None
    released = leases.release(longest_holder(0))
    assert released.handed_to is not None and released.handed_to.waiter.holder == newcomer

    item = dynamodb.get_item(TableName=DEFAULT_TABLE_NAME, Key=semaphore_key(LONGEST_PREFIX), ConsistentRead=True)[
        "Item"
    ]
    assert set(item) <= SEMAPHORE_ATTRIBUTES, "a new attribute: add it to largest_semaphore_item"
    assert len(item["holders"]["M"]) == MAX_CAP
    assert all(len(holder.encode("utf-8")) == MAX_HOLDER_BYTES for holder in item["holders"]["M"])
    assert item["holders"]["M"][newcomer]["M"]["g"]["S"] == released.handed_to.grant
    assert item_size(item) <= item_size(largest_semaphore_item()) <= MAX_ITEM_BYTES
