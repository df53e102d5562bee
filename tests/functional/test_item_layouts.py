"""Which item layout a prefix is in, and how a cap change moves it between the two (``lease_core.item_layout``).

A prefix whose cap is at most ``WIDE_ABOVE_CAP`` keeps its leases in one map on the semaphore item; above
it, a count on the semaphore item and one item per lease. The rest of the suite runs the protocol in both
layouts (the ``item_layout`` fixture); here are the switches themselves.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from lease_core import Acquired, LeaseSemaphore, MustWait
from lease_core.item_layout import CAP, COUNT, WIDE_ABOVE_CAP
from lease_core.races import MAX_ACQUIRE_ROUNDS
from lease_core.store import TransactionCancelled
from lease_core.wide_layout import WideLeases
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from tests.helpers import FakeClock, aws_client, holders_in_table, keys_of, layout_is_wide, lease_semaphore, wide_above

# A semaphore of a prefix (analytics unless told) on the test's clock: ``semaphore(dynamodb, clock=clock)``.
semaphore = partial(lease_semaphore, cap=2, ttl=60)


def test_a_prefix_created_above_the_threshold_is_wide_and_one_at_it_keeps_the_map(dynamodb: Any) -> None:
    clock = FakeClock()
    narrow = LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, "at", initial_cap=WIDE_ABOVE_CAP, clock=clock)
    wide = LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, "above", initial_cap=WIDE_ABOVE_CAP + 1, clock=clock)

    assert isinstance(narrow.acquire("run-1"), Acquired) and isinstance(wide.acquire("run-1"), Acquired)

    assert (layout_is_wide(dynamodb, "at"), layout_is_wide(dynamodb, "above")) == (False, True)
    assert set(holders_in_table(dynamodb, "above")) == keys_of("run-1")


def test_raising_the_cap_of_an_idle_prefix_over_the_threshold_makes_it_wide_and_lowering_it_makes_it_narrow(
    dynamodb: Any,
) -> None:
    clock = FakeClock()
    with wide_above(2):
        leases = semaphore(dynamodb, clock=clock, cap=2)
        leases.acquire("run-1")
        leases.release("run-1")

        leases.set_cap(3)
        assert layout_is_wide(dynamodb, "analytics") is True
        for holder in ("run-1", "run-2", "run-3"):
            assert isinstance(leases.acquire(holder), Acquired)
        assert leases.acquire("run-4") == MustWait(active=3, cap=3)
        for holder in ("run-1", "run-2", "run-3"):
            assert leases.release(holder).held

        leases.set_cap(1)
        assert layout_is_wide(dynamodb, "analytics") is False
        assert isinstance(leases.acquire("run-4"), Acquired)
        assert leases.acquire("run-5") == MustWait(active=1, cap=1)


def test_a_cap_change_on_a_prefix_with_holders_keeps_its_layout_until_it_is_idle(dynamodb: Any) -> None:
    clock = FakeClock()
    with wide_above(2):
        leases = semaphore(dynamodb, clock=clock, cap=2)
        leases.acquire("run-1")

        assert leases.set_cap(4).new == 4
        assert layout_is_wide(dynamodb, "analytics") is False  # run-1 holds in the map: the map stays
        for holder in ("run-2", "run-3", "run-4"):
            assert isinstance(leases.acquire(holder), Acquired)
        assert leases.acquire("run-5") == MustWait(active=4, cap=4)  # the new cap holds in the old layout
        for holder in ("run-1", "run-2", "run-3", "run-4"):
            leases.release(holder)

        leases.set_cap(4)  # the same cap again, now on an idle prefix: it takes the layout of its cap
        assert layout_is_wide(dynamodb, "analytics") is True


def test_a_semaphore_that_saw_the_old_layout_follows_a_switch_made_by_another_client(dynamodb: Any) -> None:
    clock = FakeClock()
    elsewhere = aws_client("dynamodb")  # another Lambda's client: its own layout hint
    with wide_above(2):
        here = semaphore(dynamodb, clock=clock, cap=2)
        here.acquire("run-1")
        here.release("run-1")  # it has seen the map

        semaphore(elsewhere, clock=clock).set_cap(3)  # now wide

        assert isinstance(here.acquire("run-1"), Acquired)
        assert here.check_held("run-1").expires_at == int(clock.now) + 60
        assert isinstance(here.acquire("run-2"), Acquired) and isinstance(here.acquire("run-3"), Acquired)
        assert here.acquire("run-4") == MustWait(active=3, cap=3)
        assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-1", "run-2", "run-3")

        for holder in ("run-1", "run-2", "run-3"):
            here.release(holder)
        semaphore(elsewhere, clock=clock).set_cap(1)  # back to the map, behind this client's back again
        assert isinstance(here.acquire("run-1"), Acquired)
        assert here.acquire("run-2") == MustWait(active=1, cap=1)
        assert layout_is_wide(dynamodb, "analytics") is False


def test_a_wide_admission_that_meets_other_transactions_on_the_semaphore_item_is_not_told_to_wait(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under a burst, TransactionConflict cancels admissions while slots are free: answering "wait" would idle a
    # slot for a whole poll interval. DynamoDB cancels a transaction that meets another on one of its items
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling);
    # moto never does, so the cancellation is raised here as DynamoDB answers it.
    clock = FakeClock()
    with wide_above(0):
        leases = semaphore(dynamodb, clock=clock, cap=5)
        leases.acquire("run-1")
        send = WideLeases._transact
        conflicts = [0]

        def conflicting(self: WideLeases, items: list[dict[str, Any]]) -> None:
            if conflicts[0] < MAX_ACQUIRE_ROUNDS + 3:
                conflicts[0] += 1
                raise TransactionCancelled(["TransactionConflict", "None"])
            send(self, items)

        monkeypatch.setattr(WideLeases, "_transact", conflicting)
        assert isinstance(leases.acquire("run-2"), Acquired)
        assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-1", "run-2")


def test_a_wide_admission_that_loses_every_race_reports_the_count_that_refused_it_not_the_one_it_read(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every read shows a free slot that other admissions take before the transaction lands: after the last lost
    # race the answer is "wait" with the semaphore as its failed condition saw it (cap reached), returned by
    # ReturnValuesOnConditionCheckFailure=ALL_OLD with the cancellation, not the stale count read before.
    clock = FakeClock()
    with wide_above(0):
        leases = semaphore(dynamodb, clock=clock, cap=2)
        assert isinstance(leases.acquire("run-1"), Acquired) and isinstance(leases.acquire("run-2"), Acquired)
        read = WideLeases.read

        def one_slot_free(self: WideLeases, *args: Any, **kwargs: Any) -> dict[str, Any]:
            item = dict(read(self, *args, **kwargs))
            item[COUNT] = item[CAP] - 1
            return item

        monkeypatch.setattr(WideLeases, "read", one_slot_free)
        assert leases.acquire("run-3") == MustWait(active=2, cap=2)
        assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-1", "run-2")
