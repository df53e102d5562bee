"""Poll mode: an execution that has already waited reads before it writes, so pollers spend reads.

A partition serves 3,000 read units a second and 1,000 write units
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html); a failed
conditional write is billed as a write
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
"""

from __future__ import annotations

from typing import Any

import pytest

from lease_core import Acquired, LeaseSemaphore, MustWait
from lease_core.lease_operations import POLL, acquire
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from tests.helpers import NOW, FakeClock

# Each test runs on both semaphore layouts (tests/conftest.py) unless marked narrow_layout_only.
pytestmark = pytest.mark.usefixtures("item_layout")


def _recorded(client: Any) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params))

    client.meta.events.register("provide-client-params.dynamodb.*", record)
    return calls


def _full_prefix(dynamodb: Any, clock: FakeClock) -> LeaseSemaphore:
    semaphore = LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, "analytics", initial_cap=2, clock=clock)
    for holder in ("run-1", "run-2"):
        assert isinstance(semaphore.acquire(holder), Acquired)
    return semaphore


def test_a_re_poll_on_a_full_prefix_is_one_eventually_consistent_read_and_no_write(dynamodb: Any) -> None:
    clock = FakeClock()
    semaphore = _full_prefix(dynamodb, clock)
    calls = _recorded(dynamodb)

    outcome = acquire(semaphore, "run-3", wait_mode=POLL, waiting_since=NOW - 30)

    assert isinstance(outcome, MustWait) and outcome.waited == 30 and outcome.cap == 2
    assert [name for name, _ in calls] == ["GetItem"]
    assert calls[0][1]["ConsistentRead"] is False


def test_a_re_poll_that_finds_a_free_slot_takes_it_with_the_conditional_write(dynamodb: Any, item_layout: str) -> None:
    clock = FakeClock()
    semaphore = _full_prefix(dynamodb, clock)
    semaphore.release("run-1")
    calls = _recorded(dynamodb)

    outcome = acquire(semaphore, "run-3", wait_mode=POLL, waiting_since=NOW - 30)

    assert isinstance(outcome, Acquired)
    # The wide layout's admission reads the count (strongly consistent) before its transaction.
    admission = ["GetItem", "TransactWriteItems"] if item_layout == "wide" else ["UpdateItem"]
    assert [name for name, _ in calls] == ["GetItem", *admission]


@pytest.mark.wide_layout_only
def test_in_the_wide_layout_a_refused_first_attempt_reads_the_count_and_its_own_lease_and_writes_nothing(
    dynamodb: Any,
) -> None:
    clock = FakeClock()
    semaphore = _full_prefix(dynamodb, clock)
    calls = _recorded(dynamodb)

    outcome = acquire(semaphore, "run-3", wait_mode=POLL, waiting_since=NOW)

    assert isinstance(outcome, MustWait)
    assert [name for name, _ in calls] == ["GetItem", "GetItem"]
    assert all(params["ConsistentRead"] for _, params in calls)


@pytest.mark.narrow_layout_only
def test_a_first_attempt_writes_at_once_without_reading(dynamodb: Any) -> None:
    clock = FakeClock()
    semaphore = _full_prefix(dynamodb, clock)
    calls = _recorded(dynamodb)

    outcome = acquire(semaphore, "run-3", wait_mode=POLL, waiting_since=NOW)

    assert isinstance(outcome, MustWait)
    assert [name for name, _ in calls] == ["UpdateItem"]


@pytest.mark.narrow_layout_only
def test_a_re_poll_still_reclaims_an_expired_holder_that_blocks_it(dynamodb: Any) -> None:
    clock = FakeClock()
    semaphore = _full_prefix(dynamodb, clock)
    clock.now += 601  # both leases (TTL 600) expired: the read must not answer "full"

    outcome = acquire(semaphore, "run-3", wait_mode=POLL, waiting_since=NOW - 30)

    assert isinstance(outcome, Acquired)
    assert not semaphore.inspect().holds("run-1") or not semaphore.inspect().holds("run-2")
