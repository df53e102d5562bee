"""The semaphore's behaviour against moto's DynamoDB, one rule of the protocol per test."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from lease_core import Acquired, LeaseLost, LeaseStoreUnavailable, MustWait, UnknownPrefix
from lease_core.item_layout import DIGEST_CHARACTERS, holder_key, holders_partition, run_key, semaphore_key
from lease_core.semaphore import HeldLease
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from tests.helpers import FakeClock, execution_arn, holders_in_table, keyed, keys_of, lease_semaphore, table_items

# Each test runs on both semaphore layouts (tests/conftest.py) unless marked narrow_layout_only.
pytestmark = pytest.mark.usefixtures("item_layout")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# A semaphore of a prefix (analytics unless told) on the test's clock: ``semaphore(dynamodb, clock=clock)``.
semaphore = partial(lease_semaphore, cap=2, ttl=60)


def test_holders_are_admitted_up_to_the_cap_and_the_next_is_told_to_wait(dynamodb: Any, clock: FakeClock) -> None:
    leases = semaphore(dynamodb, clock=clock)

    assert isinstance(leases.acquire("run-1"), Acquired)
    assert isinstance(leases.acquire("run-2"), Acquired)
    assert leases.acquire("run-3") == MustWait(active=2, cap=2)
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-1", "run-2")


def test_acquiring_again_while_holding_answers_acquired_and_occupies_one_slot(dynamodb: Any, clock: FakeClock) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    clock.now += 5

    again = leases.acquire("run-1")

    assert again == Acquired("run-1", "analytics", int(clock.now) + 60)
    assert holders_in_table(dynamodb, "analytics") == keyed({"run-1": int(clock.now) + 60})
    assert isinstance(leases.acquire("run-2"), Acquired)


def test_release_frees_the_slot_and_a_second_release_answers_not_held(dynamodb: Any, clock: FakeClock) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=1)
    leases.acquire("run-1")

    assert leases.release("run-1").as_event() == {"status": "released"}
    assert leases.release("run-1").as_event() == {"status": "not_held"}
    assert isinstance(leases.acquire("run-2"), Acquired)


def test_release_of_an_exact_lease_leaves_a_lease_renewed_since_and_frees_the_one_named(
    dynamodb: Any, clock: FakeClock
) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=1)
    leases.acquire("run-1")
    judged = leases.inspect().lease_of("run-1")
    assert judged is not None
    clock.now += 10
    leases.renew("run-1")  # a newer lease than the one judged

    assert not leases.release("run-1", exact=judged.entry).held
    assert holders_in_table(dynamodb, "analytics") == keyed({"run-1": int(clock.now) + 60})
    renewed = leases.inspect().lease_of("run-1")
    assert renewed is not None and leases.release("run-1", exact=renewed.entry).held
    assert holders_in_table(dynamodb, "analytics") == {}


def test_release_on_a_prefix_never_used_answers_not_held_and_writes_nothing(dynamodb: Any, clock: FakeClock) -> None:
    assert semaphore(dynamodb, clock=clock).release("run-1").as_event() == {"status": "not_held"}
    assert dynamodb.scan(TableName=DEFAULT_TABLE_NAME)["Count"] == 0


def test_renew_pushes_the_expiry_and_a_released_holder_cannot_renew(dynamodb: Any, clock: FakeClock) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    clock.now += 30

    assert leases.renew("run-1").expires_at == int(clock.now) + 60
    leases.release("run-1")
    with pytest.raises(LeaseLost):
        leases.renew("run-1")


@pytest.mark.narrow_layout_only
def test_an_expired_holder_is_reclaimed_only_when_it_blocks_an_admission(dynamodb: Any, clock: FakeClock) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=1)
    leases.acquire("run-1")
    clock.now += 61

    assert holders_in_table(dynamodb, "analytics") == keyed({"run-1": int(clock.now) - 1})
    assert isinstance(leases.acquire("run-2"), Acquired)
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-2")


def test_a_holder_that_renewed_is_not_reclaimed(dynamodb: Any, clock: FakeClock) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=1)
    leases.acquire("run-1")
    clock.now += 59
    leases.renew("run-1")
    clock.now += 30

    assert leases.acquire("run-2") == MustWait(active=1, cap=1)
    assert leases.reclaim_expired() == []
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-1")


@pytest.mark.narrow_layout_only
def test_a_stale_reclaim_cannot_remove_a_holder_that_renewed_after_it_was_seen(dynamodb: Any, clock: FakeClock) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=1)
    leases.acquire("run-1")
    clock.now += 61
    stale_now = int(clock.now)
    leases.renew("run-1")  # renewed after the reclaimer decided it was expired

    with pytest.raises(Exception) as failure:
        leases._admit_over_expired(
            holder_key("run-2"), stale_now + 60, [holder_key("run-1")], cap=1, size=1, now=stale_now
        )

    assert type(failure.value).__name__ == "ConditionFailed"
    assert holders_in_table(dynamodb, "analytics") == keyed({"run-1": int(clock.now) + 60})


@pytest.mark.wide_layout_only
def test_in_the_wide_layout_an_expired_holder_keeps_its_slot_until_the_sweeper_reclaims_it(
    dynamodb: Any, clock: FakeClock
) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=1)
    leases = semaphore(dynamodb, clock=clock, cap=1)
    leases.acquire("run-1")
    clock.now += 61

    assert leases.acquire("run-2") == MustWait(active=1, cap=1)  # it reads the count, not the holders
    assert leases.reclaim_expired() == [holder_key("run-1")]
    assert isinstance(leases.acquire("run-2"), Acquired)
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-2")


def test_a_reclaim_of_a_holder_seen_expired_that_renewed_since_removes_nothing(dynamodb: Any, clock: FakeClock) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=1)
    leases.acquire("run-1")
    clock.now += 61
    seen_expired = leases.inspect().expired(int(clock.now))
    leases.renew("run-1")  # renewed after the reclaimer decided it was expired

    assert leases.reclaim(seen_expired) == []
    assert holders_in_table(dynamodb, "analytics") == keyed({"run-1": int(clock.now) + 60})


def test_reclaim_expired_removes_every_expired_holder_and_keeps_the_live_ones(dynamodb: Any, clock: FakeClock) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=5)
    for name in ("old-1", "old-2"):
        leases.acquire(name)
    clock.now += 61
    leases.acquire("live")

    assert sorted(leases.reclaim_expired()) == sorted(keys_of("old-1", "old-2"))
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("live")


def test_lowering_the_cap_below_the_holders_admits_nobody_until_they_drain(dynamodb: Any, clock: FakeClock) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=3)
    for name in ("run-1", "run-2", "run-3"):
        leases.acquire(name)

    change = leases.set_cap(1)

    assert (change.old, change.new) == (3, 1)
    assert leases.acquire("run-4") == MustWait(active=3, cap=1)
    leases.release("run-1")
    leases.release("run-2")
    assert leases.acquire("run-4") == MustWait(active=1, cap=1)
    leases.release("run-3")
    assert isinstance(leases.acquire("run-4"), Acquired)


def test_the_configured_cap_is_used_once_and_never_overwrites_a_cap_in_the_table(
    dynamodb: Any, clock: FakeClock
) -> None:
    semaphore(dynamodb, clock=clock, cap=2).set_cap(4)

    configured_differently = semaphore(dynamodb, clock=clock, cap=1)
    for name in ("run-1", "run-2", "run-3", "run-4"):
        assert isinstance(configured_differently.acquire(name), Acquired)

    assert configured_differently.inspect().cap == 4


def test_inspect_shows_the_cap_and_each_holder_key_with_its_expiry(dynamodb: Any, clock: FakeClock) -> None:
    leases = semaphore(dynamodb, clock=clock)
    arn = execution_arn("analytics", "run-1")
    holder = f"{arn}#2/0"  # the third run of the execution, Map iteration 0
    leases.acquire(holder)

    snapshot = leases.inspect()

    assert (snapshot.cap, snapshot.expiries()) == (2, {run_key(arn, 2) + "/0": int(clock.now) + 60})
    assert snapshot.lease_of(holder) == HeldLease(expires_at=int(clock.now) + 60, grant=0)  # taken by itself
    assert snapshot.holds(holder) and not snapshot.holds(f"{arn}#1/0") and not snapshot.holds(f"{arn}#2")
    with pytest.raises(UnknownPrefix):
        semaphore(dynamodb, clock=clock, prefix="never-used").inspect()


def test_two_prefixes_share_the_table_without_seeing_each_other(
    dynamodb: Any, clock: FakeClock, item_layout: str
) -> None:
    analytics = semaphore(dynamodb, clock=clock, prefix="analytics", cap=1)
    batch = semaphore(dynamodb, clock=clock, prefix="batch", cap=1)

    assert isinstance(analytics.acquire("same-holder"), Acquired)
    assert isinstance(batch.acquire("same-holder"), Acquired)
    assert batch.acquire("other") == MustWait(active=1, cap=1)
    assert analytics.release("other").as_event() == {"status": "not_held"}
    batch.release("same-holder")
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("same-holder")
    partitions = {"analytics#semaphore", "batch#semaphore"}
    if item_layout == "wide":
        partitions.add(holders_partition("analytics"))  # analytics' lease, in an item of its own
    assert {item["pk"]["S"] for item in dynamodb.scan(TableName=DEFAULT_TABLE_NAME)["Items"]} == partitions


@pytest.mark.parametrize("holder", ["a.b", "x[0]", "#holders", ":now", "batch#semaphore", "../analytics", "size(h)"])
def test_holder_ids_with_expression_syntax_are_stored_under_a_plain_digest(
    dynamodb: Any, clock: FakeClock, holder: str
) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=5)

    assert isinstance(leases.acquire(holder), Acquired)
    (key,) = holders_in_table(dynamodb, "analytics")
    assert holders_in_table(dynamodb, "analytics") == {key: int(clock.now) + 60}
    assert key == holder_key(holder) and len(key) == DIGEST_CHARACTERS
    assert key.replace("-", "").replace("_", "").isalnum()  # URL-safe base64: no expression syntax reaches a key
    assert leases.release(holder).held
    assert holders_in_table(dynamodb, "analytics") == {}


def test_the_table_keeps_no_holder_id_only_the_digest_of_its_run(dynamodb: Any, clock: FakeClock) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=5)
    arn = execution_arn("analytics", "run-1")
    for holder in (f"{arn}#0", f"{arn}#1/3", "worker-7"):
        assert isinstance(leases.acquire(holder), Acquired)

    assert set(holders_in_table(dynamodb, "analytics")) == {
        run_key(arn, 0),
        run_key(arn, 1) + "/3",
        holder_key("worker-7"),
    }
    assert not any(text in repr(table_items(dynamodb)) for text in (arn, "run-1", "worker-7"))


def test_an_execution_arn_without_a_run_is_the_same_holder_as_its_run_0(dynamodb: Any, clock: FakeClock) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=2)
    arn = execution_arn("analytics", "run-1")
    leases.acquire(arn)

    assert leases.acquire(f"{arn}#0") == Acquired(f"{arn}#0", "analytics", int(clock.now) + 60)
    assert holders_in_table(dynamodb, "analytics") == {run_key(arn, 0): int(clock.now) + 60}
    assert isinstance(leases.acquire(f"{arn}#1"), Acquired)  # a redriven run is another holder
    assert leases.acquire("someone-else") == MustWait(active=2, cap=2)


@pytest.mark.narrow_layout_only
def test_a_semaphore_in_the_earlier_layout_admits_nobody_until_migrated(dynamodb: Any, clock: FakeClock) -> None:
    legacy = {**semaphore_key("analytics"), "cap": {"N": "5"}, "holders": {"M": {}}}
    dynamodb.put_item(TableName=DEFAULT_TABLE_NAME, Item=legacy)
    leases = semaphore(dynamodb, clock=clock, cap=5)

    with pytest.raises(LeaseStoreUnavailable, match="make bootstrap"):
        leases.acquire("run-1")
    with pytest.raises(LeaseStoreUnavailable, match="make bootstrap"):
        leases.inspect()
    assert table_items(dynamodb) == [legacy]
