"""The semaphore item's size, counted DynamoDB's way: within 400 KB at its largest, within 1 KB at cap 50.

A prefix keeps every holder in one item (``lease_core.item_layout``): ``h`` maps a holder **key** to one
packed number, so the item grows with the cap and the keys, never with the holder ids (execution ARNs
of up to 256 bytes), which the table no longer stores. DynamoDB refuses a write whose item would pass
400 KB, and bills each write by the item's size in 1 KB units, counting attribute names and values, map
keys included, in UTF-8 bytes, numbers at about one byte per two significant digits plus one, and 3
bytes per map plus one per element:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html (the limit:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-items).
moto counts differently (numbers by their digits, no map overhead), so the sizes here come from
``tests/dynamodb_item_size`` (the 400 KB limit, never understating DynamoDB) and from
``benchmarks.capacity`` (the write units the benchmark bills), and the request checker of
``tests/conftest.py`` holds every write of these tests, and the item it leaves in moto, to the limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from benchmarks.capacity import WRITE_UNIT_BYTES
from benchmarks.capacity import item_size as billed_item_size
from lease_core import Acquired, LeaseSemaphore, MustWait
from lease_core.item_layout import (
    DIGEST_CHARACTERS,
    GRANT_SPAN,
    MAX_INDEX_SUFFIX,
    Entry,
    holder_key,
    new_grant,
    semaphore_key,
)
from lease_core.validation import MAX_CAP, MAX_HOLDER_BYTES, MAX_TTL_SECONDS, validate_cap, validate_holder
from lease_core.waiting_room import WaitingRoom
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from tests.dynamodb_item_size import MAX_ITEM_BYTES, MAX_NUMBER_BYTES, item_size, number_size
from tests.dynamodb_request_rules import request_violations
from tests.helpers import NOW, FakeClock, execution_arn, lease_table_client

LONGEST_PREFIX = "p" * 48  # ^[a-z][a-z0-9-]{0,47}$
# 38 significant digits, the most a DynamoDB number has, starting on an odd power of ten: its widest encoding.
WIDEST_NUMBER = int("9" * 38) * 10
# Every attribute the core writes to a semaphore item (lease_core.semaphore, lease_core.waiting_room).
SEMAPHORE_ATTRIBUTES = {"pk", "sk", "cap", "h", "waiting", "enqueued", "ts", "ls"}
# The longest holder key: the run's digest, then a Map iteration's "/<index>" kept verbatim up to
# MAX_INDEX_SUFFIX bytes (a longer suffix is digested: "/" and a digest).
LONGEST_KEY_BYTES = DIGEST_CHARACTERS + MAX_INDEX_SUFFIX

# The "2 WCU per acquire+release at cap 50" claim (issue 14): the item, as written at cap 50, fits one unit.
ONE_WRITE_UNIT_CAP = 50
LAST_GRANT = GRANT_SPAN - 1  # 9999: four significant digits at the end of every handed-over entry
# Entries count seconds from item_layout.EPOCH (2026-01-01), so they widen with time: a handed-over entry
# is 7 bytes until 2029-03, then 8 bytes until 2342. Leases expiring at 2100-01-01T00:00:00Z stand for
# the 8-byte years.
FAR_EXPIRY = 4_102_444_800
FAR_NOW = FAR_EXPIRY - MAX_TTL_SECONDS
# Counters as a long-lived prefix has them: a burst of 99,999 queued, 10 billion queueings in its life.
BURST_WAITING = 99_999
LIFETIME_ENQUEUED = 9_999_999_999


def longest_key_holder(index: int) -> str:
    """A distinct holder id whose key has the most bytes: a Map iteration whose "/<index>" is 12 bytes."""
    holder = validate_holder(f"{execution_arn('largest', 'run')}#0/{index:0{MAX_INDEX_SUFFIX - 1}d}")
    assert len(holder_key(holder).encode("utf-8")) == LONGEST_KEY_BYTES
    return holder


def realistic_holder(index: int, run: int = 1) -> str:
    """An execution run as Step Functions names it: an ARN of 120 characters, then ``#<run>``."""
    arn = execution_arn("analytics", f"ingest-{index:04d}-3f9c2a7e1b5d40c8")
    assert len(arn) == 120
    return validate_holder(f"{arn}#{run}")


def largest_semaphore_item() -> dict[str, Any]:
    """The semaphore item at its largest: every attribute the core writes, each as wide as it can be."""
    entry = {"N": str(WIDEST_NUMBER)}  # far wider than any packed entry (expiry and grant) can be
    return {
        **semaphore_key(LONGEST_PREFIX),
        "cap": {"N": str(MAX_CAP)},
        "h": {"M": {holder_key(longest_key_holder(index)): entry for index in range(MAX_CAP)}},
        "waiting": entry,  # counters that only grow: sized at their widest
        "enqueued": entry,
        "ts": {"N": str(MAX_TTL_SECONDS)},
        "ls": {"N": str(MAX_TTL_SECONDS)},
    }


# -- 400 KB: the largest item the core can write ----------------------------------------------------


def test_the_maximum_cap_is_the_largest_the_validator_allows() -> None:
    assert validate_cap(MAX_CAP) == MAX_CAP
    with pytest.raises(Exception, match="cap must be a whole number from 1 to 1000"):
        validate_cap(MAX_CAP + 1)


@pytest.mark.parametrize(
    ("holder", "key_bytes"),
    [
        ("\U00020000" * (MAX_HOLDER_BYTES // 4), DIGEST_CHARACTERS),  # any other holder id: its digest
        (execution_arn("analytics", "run") + "#999999999", DIGEST_CHARACTERS),
        (execution_arn("analytics", "run") + "#3/17", DIGEST_CHARACTERS + 3),
        (execution_arn("analytics", "run") + "/" + "x" * (MAX_INDEX_SUFFIX - 1), LONGEST_KEY_BYTES),
        (execution_arn("analytics", "run") + "/" + "\U00020000" * 3, DIGEST_CHARACTERS + 1 + DIGEST_CHARACTERS),
        (execution_arn("analytics", "run") + "/" + "x" * 150, DIGEST_CHARACTERS + 1 + DIGEST_CHARACTERS),
    ],
    ids=["256-byte-id", "arn-and-run", "map-iteration", "longest-verbatim-suffix", "suffix-digested", "long-suffix"],
)
def test_a_holder_key_is_at_most_21_bytes_whatever_the_holder_id(holder: str, key_bytes: int) -> None:
    validate_holder(holder)

    assert len(holder_key(holder).encode("utf-8")) == key_bytes <= LONGEST_KEY_BYTES == 21


def test_the_largest_semaphore_item_fits_dynamodbs_item_limit() -> None:
    item = largest_semaphore_item()
    assert set(item) == SEMAPHORE_ATTRIBUTES
    assert len(item["h"]["M"]) == MAX_CAP
    assert number_size(item["waiting"]["N"]) == MAX_NUMBER_BYTES

    size = item_size(item)

    # 1,000 holders x (a 21-byte key + 1 element byte + a 21-byte number) plus the other attributes.
    assert size <= MAX_ITEM_BYTES, f"{size} bytes, over DynamoDB's {MAX_ITEM_BYTES}: lower MAX_CAP"
    assert size < MAX_ITEM_BYTES // 4, f"{size} bytes: holder ids (not keys) in the item again?"
    assert request_violations("PutItem", {"TableName": DEFAULT_TABLE_NAME, "Item": item}) == []


def test_the_core_admits_and_hands_over_at_the_largest_item_within_dynamodbs_limit(dynamodb: Any) -> None:
    """The real core's writes on a full semaphore of the longest holder keys, each checked by the request checker.

    The first holders are written in one request with the core's own entries (``Entry``, with a grant
    each, as a hand-over writes them): admitting 1,000 holders one by one costs moto a copy of the
    growing item each, and changes nothing that the last admissions below do not show. The last
    admission, a refused newcomer, a queued waiter and a hand-over then run through the core on the full item.
    """
    leases = LeaseSemaphore(
        dynamodb,
        DEFAULT_TABLE_NAME,
        LONGEST_PREFIX,
        ttl_seconds=MAX_TTL_SECONDS,
        initial_cap=1,
        clock=lambda: NOW,
    )
    # A prefix keeps its layout while it has holders: one created narrow and raised to the maximum cap while
    # busy is the largest the map can grow (a new or idle prefix above item_layout.WIDE_ABOVE_CAP is wide).
    assert isinstance(leases.acquire(longest_key_holder(0)), Acquired)
    leases.set_cap(MAX_CAP)
    leases.configure_timings(task_seconds=MAX_TTL_SECONDS, lease_seconds=MAX_TTL_SECONDS)
    entries = {
        holder_key(longest_key_holder(index)): Entry(NOW + MAX_TTL_SECONDS, new_grant()).packed()
        for index in range(MAX_CAP - 1)
    }
    dynamodb.update_item(
        TableName=DEFAULT_TABLE_NAME,
        Key=semaphore_key(LONGEST_PREFIX),
        UpdateExpression="SET #h = :h",
        ExpressionAttributeNames={"#h": "h"},
        ExpressionAttributeValues={":h": {"M": entries}},
    )

    last, newcomer = longest_key_holder(MAX_CAP - 1), longest_key_holder(MAX_CAP)
    assert leases.acquire(last) == Acquired(last, LONGEST_PREFIX, NOW + MAX_TTL_SECONDS)
    assert leases.acquire(newcomer) == MustWait(active=MAX_CAP, cap=MAX_CAP)
    room = WaitingRoom(leases)
    assert room.enqueue(newcomer, "task-token") is not None
    released = leases.release(longest_key_holder(0))
    assert released.handed_to is not None and released.handed_to.waiter.holder == newcomer

    item = dynamodb.get_item(TableName=DEFAULT_TABLE_NAME, Key=semaphore_key(LONGEST_PREFIX), ConsistentRead=True)[
        "Item"
    ]
    assert set(item) <= SEMAPHORE_ATTRIBUTES, "a new attribute: add it to largest_semaphore_item"
    assert len(item["h"]["M"]) == MAX_CAP
    assert all(len(key.encode("utf-8")) == LONGEST_KEY_BYTES for key in item["h"]["M"])
    assert Entry.unpack(item["h"]["M"][holder_key(newcomer)]["N"]) == released.handed_to.entry
    assert item_size(item) <= item_size(largest_semaphore_item()) <= MAX_ITEM_BYTES


# -- 1 KB: one write unit per admission or release at cap 50 -----------------------------------------


def every_slot_handed_over(client: Any, holders: int) -> dict[str, Any]:
    """The semaphore item of the longest prefix, as the core leaves it with ``holders`` slots (its cap) all
    handed over to realistic execution runs (grant 9999, expiring in 2100), its timings configured and its
    counters at a long-lived prefix's values; read back from moto as DynamoDB stores it (low-level)."""
    clock = FakeClock(FAR_NOW)
    leases = LeaseSemaphore(
        client, DEFAULT_TABLE_NAME, LONGEST_PREFIX, ttl_seconds=MAX_TTL_SECONDS, initial_cap=holders, clock=clock
    )
    leases.set_cap(holders)
    leases.configure_timings(task_seconds=MAX_TTL_SECONDS, lease_seconds=MAX_TTL_SECONDS)
    room = WaitingRoom(leases)
    for index in range(holders):
        assert isinstance(leases.acquire(realistic_holder(index, run=0)), Acquired)
    for index in range(holders):
        clock.now += 0.001  # queued one millisecond apart, in this order (the expiry stays FAR_EXPIRY)
        assert room.enqueue(realistic_holder(index, run=1), f"token-{index}") is not None
    for index in range(holders):
        released = leases.release(realistic_holder(index, run=0))
        assert released.handed_to is not None and released.handed_to.waiter.holder == realistic_holder(index, run=1)
    client.update_item(
        TableName=DEFAULT_TABLE_NAME,
        Key=semaphore_key(LONGEST_PREFIX),
        UpdateExpression="SET #waiting = :waiting, #enqueued = :enqueued",
        ExpressionAttributeNames={"#waiting": "waiting", "#enqueued": "enqueued"},
        ExpressionAttributeValues={
            ":waiting": {"N": str(BURST_WAITING)},
            ":enqueued": {"N": str(LIFETIME_ENQUEUED)},
        },
    )
    item = client.get_item(TableName=DEFAULT_TABLE_NAME, Key=semaphore_key(LONGEST_PREFIX), ConsistentRead=True)["Item"]
    assert set(item) == SEMAPHORE_ATTRIBUTES
    handed_over = Entry(FAR_EXPIRY, LAST_GRANT)
    assert {key: Entry.unpack(value["N"]) for key, value in item["h"]["M"].items()} == {
        holder_key(realistic_holder(index, run=1)): handed_over for index in range(holders)
    }
    return item


@pytest.fixture(scope="module")
def item_at_cap_50() -> Iterator[dict[str, Any]]:
    """Built once for the tests below (about 500 requests); each test gets its own copy."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        patch.setattr("lease_core.semaphore.new_grant", lambda: LAST_GRANT)  # the widest grant, every time
        yield every_slot_handed_over(lease_table_client(), ONE_WRITE_UNIT_CAP)


def with_more_holders(item: dict[str, Any], count: int) -> dict[str, Any]:
    """The item with ``count`` more handed-over holders, written exactly as the others."""
    (entry, *_) = item["h"]["M"].values()
    more = {holder_key(realistic_holder(ONE_WRITE_UNIT_CAP + index, run=1)): entry for index in range(count)}
    return {**item, "cap": {"N": str(len(item["h"]["M"]) + count)}, "h": {"M": {**item["h"]["M"], **more}}}


def test_the_semaphore_item_at_cap_50_with_every_slot_handed_over_fits_one_write_unit(
    item_at_cap_50: dict[str, Any],
) -> None:
    size = billed_item_size(item_at_cap_50)

    assert size <= WRITE_UNIT_BYTES, (
        f"{size} bytes at cap {ONE_WRITE_UNIT_CAP}: an admission or release is billed "
        f"{-(-size // WRITE_UNIT_BYTES)} write units, not 1 ("
        + ", ".join(f"{name} {len(name) + billed_item_size({'': value})}" for name, value in item_at_cap_50.items())
        + ")"
    )


def test_ten_more_holders_would_need_a_second_write_unit(item_at_cap_50: dict[str, Any]) -> None:
    assert billed_item_size(with_more_holders(item_at_cap_50, 10)) > WRITE_UNIT_BYTES


def test_a_longer_digest_would_need_a_second_write_unit(item_at_cap_50: dict[str, Any]) -> None:
    longer = {key + "xxxxxx": entry for key, entry in item_at_cap_50["h"]["M"].items()}  # 15-character keys

    assert billed_item_size({**item_at_cap_50, "h": {"M": longer}}) > WRITE_UNIT_BYTES
