"""Handoff mode's queue against moto's DynamoDB: first come, first served, no slot idle while someone waits.

The queue is one place item per waiter (sorted by arrival) plus one index item per waiter (keyed by
holder key); the semaphore item counts the places in ``waiting`` and holds the leases by holder key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from lease_core import Acquired, LeaseSemaphore, LeaseStoreUnavailable, MustWait, lease_operations
from lease_core.item_layout import COUNT, ENTRY, Entry, holder_item_key, holder_key, semaphore_key
from lease_core.queue_items import ABANDONED_WAITER_SECONDS
from lease_core.waiter_count import WaiterCount
from lease_core.waiting_room import WaitingRoom
from lease_core.wide_layout import WideLeases
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from tests.helpers import NOW, aws_client, holders_in_table, keys_of, lease_semaphore, wide_above

# Each test runs on both semaphore layouts (tests/conftest.py) unless marked narrow_layout_only.
pytestmark = pytest.mark.usefixtures("item_layout")


class SteppingClock:
    """Every reading is 1 ms later than the last: arrivals are strictly ordered, as on a real clock."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


# A semaphore of a prefix (analytics unless told) on the test's clock: ``semaphore(dynamodb, clock=clock)``.
semaphore = partial(lease_semaphore, cap=1, ttl=60)


def queue(leases: LeaseSemaphore, *holders: str) -> WaitingRoom:
    room = WaitingRoom(leases)
    for holder in holders:
        assert isinstance(leases.acquire(holder, behind_waiters=True), MustWait)
        room.enqueue(holder, f"token-of-{holder}")
    return room


def semaphore_item(client: Any, prefix: str = "analytics") -> dict[str, Any]:
    return client.get_item(TableName=DEFAULT_TABLE_NAME, Key=semaphore_key(prefix), ConsistentRead=True)["Item"]


def waiting_count(client: Any, prefix: str = "analytics") -> int:
    return int(semaphore_item(client, prefix).get("waiting", {"N": "0"})["N"])


def index_item(client: Any, leases: LeaseSemaphore, holder: str) -> dict[str, Any] | None:
    """The queue's index item of ``holder`` (where its place is, whether it is counted), straight from the table."""
    key = leases.queue.index_key(holder_key(holder))
    return client.get_item(TableName=DEFAULT_TABLE_NAME, Key=key, ConsistentRead=True).get("Item")


def let_ttl_delete_what_expired(client: Any, now: float) -> None:
    """Do what DynamoDB's TTL may do at any time after an item's ``ttl``: delete it."""
    for item in client.scan(TableName=DEFAULT_TABLE_NAME, ConsistentRead=True)["Items"]:
        if "ttl" in item and int(item["ttl"]["N"]) < now:
            client.delete_item(TableName=DEFAULT_TABLE_NAME, Key={"pk": item["pk"], "sk": item["sk"]})


def set_holders(client: Any, changes: dict[str, Entry | None], prefix: str = "analytics") -> None:
    """Change the prefix's leases by hand, as a concurrent caller would have: ``{holder: Entry or None}``. The map
    ``h`` of the semaphore item, or (wide layout) the holder items and the count ``n`` with them."""
    if COUNT in semaphore_item(client, prefix):
        for holder, entry in changes.items():
            key = holder_item_key(prefix, holder_key(holder))
            if entry is None:
                client.delete_item(TableName=DEFAULT_TABLE_NAME, Key=key)
            else:
                client.put_item(TableName=DEFAULT_TABLE_NAME, Item={**key, ENTRY: entry.packed()})
            client.update_item(
                TableName=DEFAULT_TABLE_NAME,
                Key=semaphore_key(prefix),
                UpdateExpression="ADD n :change",
                ExpressionAttributeValues={":change": {"N": "-1" if entry is None else "1"}},
            )
        return
    names, sets, removes, values = {}, [], [], {}
    for index, (holder, entry) in enumerate(changes.items()):
        names[f"#k{index}"] = holder_key(holder)
        if entry is None:
            removes.append(f"h.#k{index}")
        else:
            sets.append(f"h.#k{index} = :v{index}")
            values[f":v{index}"] = entry.packed()
    update = (f"SET {', '.join(sets)} " if sets else "") + (f"REMOVE {', '.join(removes)}" if removes else "")
    client.update_item(
        TableName=DEFAULT_TABLE_NAME,
        Key=semaphore_key(prefix),
        UpdateExpression=update.strip(),
        ExpressionAttributeNames=names,
        **({"ExpressionAttributeValues": values} if values else {}),
    )


class QuietStepFunctions:
    """SendTaskSuccess that always succeeds and remembers whom it told."""

    def __init__(self) -> None:
        self.told: list[str] = []

    def send_task_success(self, taskToken: str, output: str) -> dict[str, Any]:
        self.told.append(taskToken)
        return {}


def test_a_release_hands_the_slot_to_the_oldest_waiter_in_the_same_write(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2", "run-3")

    released = leases.release("run-1")

    assert released.held and released.handed_to is not None
    assert released.handed_to.waiter.holder == "run-2"
    assert released.handed_to.as_event()["status"] == "acquired"
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-2")
    assert [waiter.holder for waiter in room.waiters()] == ["run-3"]
    assert waiting_count(dynamodb) == 1
    assert index_item(dynamodb, leases, "run-2") is None  # nothing of its wait is left


def test_waiters_are_served_in_the_order_they_arrived(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-0")
    queue(leases, "zz-first", "aa-second", "mm-third")

    served = []
    holder = "run-0"
    for _ in range(3):
        handed = leases.release(holder).handed_to
        assert handed is not None
        holder = handed.waiter.holder
        served.append(holder)

    assert served == ["zz-first", "aa-second", "mm-third"]
    assert leases.release(holder).handed_to is None
    assert holders_in_table(dynamodb, "analytics") == {}
    assert waiting_count(dynamodb) == 0


def test_a_newcomer_may_not_take_a_free_slot_while_others_wait(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=2)
    leases.acquire("run-1")
    leases.acquire("run-2")
    room = queue(leases, "run-3")
    # A release that lands between run-3's failed admission and its queueing frees a slot outright.
    set_holders(dynamodb, {"run-1": None})

    newcomer = leases.acquire("run-4", behind_waiters=True)
    admitted = room.fill_free_slots()

    assert isinstance(newcomer, MustWait)
    assert [admission.waiter.holder for admission in admitted] == ["run-3"]
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-2", "run-3")


def test_without_handoff_a_newcomer_still_takes_a_free_slot_as_in_poll_mode(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=2)
    leases.acquire("run-1")
    WaitingRoom(leases).enqueue("run-2", "token")  # queued in a race; only the handoff admission respects it

    assert isinstance(leases.acquire("run-3"), Acquired)


def test_queueing_again_keeps_the_place_in_line_and_takes_the_new_token(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2", "run-3")

    again = room.enqueue("run-2", "a-fresh-token")

    assert [waiter.holder for waiter in room.waiters()] == ["run-2", "run-3"]
    assert again is not None and room.head() == again
    assert waiting_count(dynamodb) == 2
    handed = leases.release("run-1").handed_to
    assert handed is not None and handed.waiter.token == "a-fresh-token"


def test_a_waiters_items_expire_a_day_after_its_last_re_check_so_an_abandoned_one_is_collected(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2")
    place_key = leases.queue.waiter_key(room.waiters()[0].sort_key)
    index_key = leases.queue.index_key(holder_key("run-2"))

    def ttls() -> tuple[int, int]:
        place, index = (
            dynamodb.get_item(TableName=DEFAULT_TABLE_NAME, Key=key)["Item"] for key in (place_key, index_key)
        )
        return int(place["ttl"]["N"]), int(index["ttl"]["N"])

    first = ttls()
    clock.now += 300
    room.enqueue("run-2", "re-checked")
    after_a_re_check = ttls()
    clock.now += 86_400  # the longest a live waiter goes without re-checking
    room.enqueue("run-2", "re-checked-a-day-later")

    assert ABANDONED_WAITER_SECONDS > 86_400
    assert first == (int(clock.now) - 86_700 + ABANDONED_WAITER_SECONDS,) * 2
    place_ttl, index_ttl = after_a_re_check
    assert place_ttl == int(clock.now) - 86_400 + ABANDONED_WAITER_SECONDS
    # The index is not rewritten at every re-check, but it outlives the next one (at most a day later)...
    assert index_ttl > int(clock.now)
    # ...which refreshes it with the place: after the last re-check, both go a day later.
    assert ttls() == (int(clock.now) + ABANDONED_WAITER_SECONDS,) * 2


@pytest.mark.parametrize("recheck_seconds", [86_400, 20_000, 1_800])
def test_a_waiter_that_keeps_re_checking_keeps_its_place_in_line_while_ttl_collects_expired_items(
    dynamodb: Any, clock: SteppingClock, recheck_seconds: int
) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2", "run-3")

    for re_check in range(1, (ABANDONED_WAITER_SECONDS + 3_600) // recheck_seconds + 2):  # past the first TTL
        clock.now += recheck_seconds  # recheck_seconds is at most a day
        let_ttl_delete_what_expired(dynamodb, clock.now)
        for holder in ("run-2", "run-3"):
            assert room.enqueue(holder, f"token-of-{holder}-{re_check}") is not None

        assert [waiter.holder for waiter in room.waiters()] == ["run-2", "run-3"], f"re-check {re_check}"
        assert waiting_count(dynamodb) == 2, f"re-check {re_check}"
    handed = leases.release("run-1").handed_to
    assert handed is not None and handed.waiter.token == f"token-of-run-2-{re_check}"


def test_a_slot_handed_to_a_gone_waiter_is_taken_back_under_its_exact_entry_and_passed_on(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    queue(leases, "run-2", "run-3")
    handed = leases.release("run-1").handed_to
    assert handed is not None

    passed = leases.release("run-2", exact=handed.entry)

    assert passed.held and passed.handed_to is not None and passed.handed_to.waiter.holder == "run-3"
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-3")


def test_a_lease_the_waiter_took_again_by_itself_is_not_taken_back_under_the_old_exact_entry(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    queue(leases, "run-2", "run-3")
    handed = leases.release("run-1").handed_to
    assert handed is not None
    # run-2's wait timed out and its re-check took the slot it already held, as a lease of its own.
    assert isinstance(leases.acquire("run-2", behind_waiters=True), Acquired)

    passed = leases.release("run-2", exact=handed.entry)

    assert passed.as_event() == {"status": "not_held"}
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-2")


def test_each_hand_over_records_its_own_grant_and_a_plain_lease_has_none(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=2)
    leases.acquire("run-1")
    leases.acquire("run-2")
    queue(leases, "run-3", "run-4")
    first = leases.release("run-1").handed_to
    second = leases.release("run-3").handed_to
    assert first is not None and second is not None

    snapshot = leases.inspect()

    run_4, run_2 = snapshot.lease_of("run-4"), snapshot.lease_of("run-2")
    assert run_4 is not None and run_2 is not None
    assert run_4.grant == second.grant != first.grant
    assert run_4.entry == second.entry
    assert run_2.grant == 0


@pytest.mark.narrow_layout_only
def test_free_slots_go_to_waiters_after_expired_holders_are_reclaimed(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=2, ttl=60)
    leases.acquire("run-1")
    leases.acquire("run-2")
    room = queue(leases, "run-3", "run-4", "run-5")
    clock.now += 61  # both leases expire unreleased (their executions died)

    admitted = room.fill_free_slots()

    assert [admission.waiter.holder for admission in admitted] == ["run-3", "run-4"]
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-3", "run-4")
    assert [waiter.holder for waiter in room.waiters()] == ["run-5"]
    assert waiting_count(dynamodb) == 1


def test_free_slots_go_to_waiters_once_the_sweeper_reclaims_the_expired_holders(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=2, ttl=60)
    leases.acquire("run-1")
    leases.acquire("run-2")
    room = queue(leases, "run-3", "run-4", "run-5")
    clock.now += 61  # both leases expire unreleased (their executions died)

    assert sorted(leases.reclaim_expired()) == sorted(keys_of("run-1", "run-2"))
    admitted = room.fill_free_slots()

    assert [admission.waiter.holder for admission in admitted] == ["run-3", "run-4"]
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-3", "run-4")
    assert [waiter.holder for waiter in room.waiters()] == ["run-5"]
    assert waiting_count(dynamodb) == 1


def test_a_waiter_that_got_in_by_itself_loses_its_place_and_the_next_one_is_served(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=2)
    leases.acquire("run-1")
    leases.acquire("run-2")
    queue(leases, "run-3", "run-4")
    # run-3 holds a slot anyway (an acquire of its own that ignored the queue, as in poll mode).
    set_holders(dynamodb, {"run-1": None, "run-3": Entry(int(clock.now) + 600)})

    handed = leases.release("run-2").handed_to

    assert handed is not None and handed.waiter.holder == "run-4"
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-3", "run-4")
    assert waiting_count(dynamodb) == 0
    assert index_item(dynamodb, leases, "run-3") is None


def test_a_count_of_waiters_that_are_not_there_is_reset_and_the_release_frees_the_slot(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2")
    # Its place deleted by hand (or by TTL), its count left behind.
    dynamodb.delete_item(TableName=DEFAULT_TABLE_NAME, Key=leases.queue.waiter_key(room.waiters()[0].sort_key))

    released = leases.release("run-1")

    assert released.held and released.handed_to is None
    assert holders_in_table(dynamodb, "analytics") == {}
    assert waiting_count(dynamodb) == 0
    assert isinstance(leases.acquire("run-3", behind_waiters=True), Acquired)


def test_removing_a_waiter_takes_it_out_of_line_and_out_of_the_count(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2", "run-3")

    assert room.remove(room.waiters()[0]) is True
    assert room.remove(room.waiters()[0]) is True
    assert room.waiters() == [] and waiting_count(dynamodb) == 0
    assert index_item(dynamodb, leases, "run-2") is None and index_item(dynamodb, leases, "run-3") is None
    assert leases.release("run-1").handed_to is None


def test_releasing_a_holder_that_does_not_hold_hands_nothing_over(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2")

    assert leases.release("run-9").as_event() == {"status": "not_held"}
    assert [waiter.holder for waiter in room.waiters()] == ["run-2"]
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-1")


# -- a write that lands but whose answer is lost, or a write that fails -----------------------------


@pytest.fixture
def faults(dynamodb: Any) -> Any:
    from lease_ops.chaos.dynamodb_faults import DynamoFaults

    injected = DynamoFaults()
    injected.attach(dynamodb)
    return injected


def test_a_hand_over_whose_answer_is_lost_is_still_reported_so_the_waiter_is_told(
    dynamodb: Any, clock: SteppingClock, faults: Any
) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    queue(leases, "run-2")

    faults.arm("lost-response")
    released = leases.release("run-1")

    assert faults.total() == 1
    assert released.handed_to is not None and released.handed_to.waiter.holder == "run-2"
    lease = leases.inspect().lease_of("run-2")
    assert lease is not None and lease.entry == released.handed_to.entry
    assert waiting_count(dynamodb) == 0


def test_queueing_whose_count_landed_but_whose_answer_was_lost_counts_too_high_until_the_queue_empties(
    dynamodb: Any, clock: SteppingClock, faults: Any
) -> None:
    # Queueing is plain writes, not one transaction on the hot semaphore item (see lease_core.waiting_room):
    # a retry cannot tell a count whose answer was lost from one that never landed, so it counts again.
    # Too high is the safe side (nobody is stranded or overtaken; newcomers queue and are served by the
    # fill), and the excess is reset the next time a release finds the queue empty.
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = WaitingRoom(leases)

    faults.arm("lost-response")  # the first write whose answer can be lost: the count of its new place
    with pytest.raises(LeaseStoreUnavailable):
        room.enqueue("run-2", "token")  # the acquire Lambda fails, and Step Functions retries it
    waiter = room.enqueue("run-2", "token")

    assert faults.total() == 1
    assert waiter is not None and room.waiters() == [waiter]  # one place: it keeps its place in line
    assert waiting_count(dynamodb) == 2  # counted twice: never less than the places
    handed = leases.release("run-1").handed_to
    assert handed is not None and handed.waiter.holder == "run-2"
    assert leases.release("run-2").held  # the queue is empty now: the excess count is reset, the slot freed
    assert waiting_count(dynamodb) == 0 and leases.inspect().holders == {}


def test_a_queueing_cut_off_between_its_place_and_its_count_is_counted_once_when_retried_with_the_same_token(
    dynamodb: Any, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2")
    stepfunctions = QuietStepFunctions()
    original = LeaseSemaphore.count_waiter
    failures = [0]

    def count_fails_once(self: LeaseSemaphore, waiter: Any) -> Any:
        if not failures[0]:
            failures[0] += 1
            raise LeaseStoreUnavailable("DynamoDB UpdateItem failed: InternalServerError")
        return original(self, waiter)

    monkeypatch.setattr(LeaseSemaphore, "count_waiter", count_fails_once)
    with pytest.raises(LeaseStoreUnavailable):
        lease_operations.acquire_or_queue(leases, stepfunctions, "run-3", "token-of-run-3")
    assert [waiter.holder for waiter in room.waiters()] == ["run-2", "run-3"]  # its place is written...
    assert waiting_count(dynamodb) == 1  # ...but not counted

    retried = lease_operations.acquire_or_queue(leases, stepfunctions, "run-3", "token-of-run-3")

    assert isinstance(retried, lease_operations.Queued)
    assert [waiter.holder for waiter in room.waiters()] == ["run-2", "run-3"]
    assert waiting_count(dynamodb) == 2
    assert int(semaphore_item(dynamodb)["enqueued"]["N"]) == 2  # one count per place, ever
    assert leases.release("run-1").handed_to is not None and leases.release("run-2").handed_to is not None
    assert (room.waiters(), waiting_count(dynamodb)) == ([], 0)
    assert stepfunctions.told == []


def test_filling_a_free_slot_whose_answer_is_lost_still_admits_the_waiter_once(
    dynamodb: Any, clock: SteppingClock, faults: Any
) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=2)
    leases.acquire("run-1")
    room = WaitingRoom(leases)
    room.enqueue("run-2", "token-2")
    room.enqueue("run-3", "token-3")

    faults.arm("lost-response")
    admitted = room.fill_free_slots()

    assert faults.total() == 1
    assert [admission.waiter.holder for admission in admitted] == ["run-2"]
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("run-1", "run-2")
    assert [waiter.holder for waiter in room.waiters()] == ["run-3"]
    assert waiting_count(dynamodb) == 1


# -- races, forced by running another caller's step at the worst moment ---------------------------


def once_before(monkeypatch: pytest.MonkeyPatch, owner: type, name: str, action: Any) -> None:
    """The first call of ``owner.name`` runs ``action`` first (whose own calls go straight through)."""
    original = getattr(owner, name)
    fired = [False]

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not fired[0]:
            fired[0] = True
            action()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


def test_a_queue_count_is_not_reset_under_an_execution_that_queued_while_the_queue_looked_empty(
    dynamodb: Any, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lease_core.queue_items import QueueItems

    leases = semaphore(dynamodb, clock=clock, cap=2)
    leases.acquire("run-1")
    leases.acquire("run-2")
    room = queue(leases, "waiter-1")
    # run-1's release sees someone waiting; before it reads the queue, run-2's release serves waiter-1;
    # before run-1 resets the count it found wrong, waiter-2 queues.
    once_before(monkeypatch, QueueItems, "head", lambda: leases.release("run-2"))
    once_before(monkeypatch, WaiterCount, "forget_phantoms", lambda: room.enqueue("waiter-2", "t2"))

    released = leases.release("run-1")

    assert released.handed_to is not None and released.handed_to.waiter.holder == "waiter-2"
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("waiter-1", "waiter-2")
    assert (waiting_count(dynamodb), room.waiters()) == (0, [])


def test_a_hand_over_tells_the_token_the_waiter_waits_with_now_not_the_one_it_replaced(
    dynamodb: Any, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch, item_layout: str
) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2")  # waiting with token-of-run-2
    # Its wait times out and its re-check refreshes the token just after the release read the queue.
    hand_over = WideLeases if item_layout == "wide" else LeaseSemaphore
    once_before(monkeypatch, hand_over, "_transact", lambda: room.enqueue("run-2", "the-new-token"))

    handed = leases.release("run-1").handed_to

    assert handed is not None and handed.waiter.token == "the-new-token"
    assert waiting_count(dynamodb) == 0


def test_an_execution_that_holds_a_slot_cannot_also_queue(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = WaitingRoom(leases)

    assert room.enqueue("run-1", "token") is None
    assert (room.waiters(), waiting_count(dynamodb)) == ([], 0)
    assert index_item(dynamodb, leases, "run-1") is None


def test_a_place_handed_a_slot_before_it_was_counted_leaves_the_other_waiters_count_alone(
    dynamodb: Any, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = WaitingRoom(leases)
    assert isinstance(leases.acquire("early", behind_waiters=True), MustWait)

    def late_queues_and_run_1_releases() -> None:
        # Between writing early's place and counting it: late queues (behind it, counted), run-1 releases.
        queue(leases, "late")
        handed = leases.release("run-1").handed_to
        assert handed is not None and handed.waiter.holder == "early"

    once_before(monkeypatch, LeaseSemaphore, "count_waiter", late_queues_and_run_1_releases)

    assert room.enqueue("early", "token-of-early") is None  # it holds a slot now: it does not wait as well

    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("early")
    assert [waiter.holder for waiter in room.waiters()] == ["late"]
    assert waiting_count(dynamodb) == 1  # late's count: early's hand-over took nothing off it
    assert isinstance(leases.acquire("newcomer", behind_waiters=True), MustWait)
    handed = leases.release("early").handed_to
    assert handed is not None and handed.waiter.holder == "late"


def test_a_release_skips_a_stale_place_of_the_releaser_itself_and_serves_the_next(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2")
    # A counted place of run-1's own, older than run-2's, left from before it got its slot.
    stale = f"000000000000001#{holder_key('run-1')}"
    dynamodb.put_item(
        TableName=DEFAULT_TABLE_NAME,
        Item={**leases.queue.waiter_key(stale), "holder": {"S": "run-1"}, "token": {"S": "old"}},
    )
    dynamodb.put_item(
        TableName=DEFAULT_TABLE_NAME,
        Item={**leases.queue.index_key(holder_key("run-1")), "at": {"S": stale}, "counted": {"BOOL": True}},
    )
    dynamodb.update_item(
        TableName=DEFAULT_TABLE_NAME,
        Key=semaphore_key("analytics"),
        UpdateExpression="ADD waiting :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )

    handed = leases.release("run-1").handed_to

    assert handed is not None and handed.waiter.holder == "run-2"
    assert (room.waiters(), waiting_count(dynamodb)) == ([], 0)


@pytest.mark.narrow_layout_only
def test_a_newcomer_reclaiming_an_expired_slot_yields_to_an_execution_that_queued_meanwhile(
    dynamodb: Any, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases = semaphore(dynamodb, clock=clock, ttl=60)
    leases.acquire("dead-holder")
    clock.now += 61
    room = WaitingRoom(leases)
    once_before(monkeypatch, LeaseSemaphore, "_admit_over_expired", lambda: room.enqueue("earlier", "t"))

    late = leases.acquire("newcomer", behind_waiters=True)

    assert isinstance(late, MustWait)
    assert holder_key("newcomer") not in holders_in_table(dynamodb, "analytics")
    assert [admission.waiter.holder for admission in room.fill_free_slots()] == ["earlier"]


def test_after_the_cap_is_lowered_releases_free_their_slots_and_the_queue_waits_until_holders_are_below_it(
    dynamodb: Any, clock: SteppingClock
) -> None:
    # The reproduction of the lowered-cap defect: cap 3, three holders, three waiters, cap lowered to 1.
    leases = semaphore(dynamodb, clock=clock, cap=3)
    for holder in ("h1", "h2", "h3"):
        assert isinstance(leases.acquire(holder, behind_waiters=True), Acquired)
    room = queue(leases, "w1", "w2", "w3")
    leases.set_cap(1)

    after_each_release = []
    for holder in ("h1", "h2", "h3"):
        released = leases.release(holder)
        assert released.held
        after_each_release.append((set(holders_in_table(dynamodb, "analytics")), released.handed_to))

    # h1 and h2 leave two and one holders: at or above the cap of 1, so nobody is handed a slot.
    assert after_each_release[0] == (keys_of("h2", "h3"), None)
    assert after_each_release[1] == (keys_of("h3"), None)
    # h3's release is the first below the cap: its slot goes to the oldest waiter, in the same write.
    holders, handed_to = after_each_release[2]
    assert holders == keys_of("w1") and handed_to is not None and handed_to.waiter.holder == "w1"
    assert [waiter.holder for waiter in room.waiters()] == ["w2", "w3"]
    assert room.fill_free_slots() == []
    assert isinstance(leases.acquire("newcomer", behind_waiters=True), MustWait)


def test_a_free_slot_is_not_filled_from_the_queue_while_holders_are_over_a_lowered_cap(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock=clock, cap=2)
    leases.acquire("h1")
    leases.acquire("h2")
    room = queue(leases, "w1")
    leases.set_cap(1)

    assert leases.release("h1").handed_to is None
    assert room.fill_free_slots() == []
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("h2")
    assert [waiter.holder for waiter in room.waiters()] == ["w1"]


# -- what an operation reads does not grow with the queue ------------------------------------------


class Requests:
    """Every DynamoDB request one client sends while recording: its operation, its parameters and the items it
    returned (botocore's ``before-parameter-build`` and ``after-call`` events; a failed condition's item counts too)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], int]] = []

    def before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.sent.append((model.name, params, 0))

    def after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        name, params, _ = self.sent[-1]
        assert name == model.name
        self.sent[-1] = (name, params, len(parsed.get("Items", [])) + (1 if parsed.get("Item") else 0))

    def profile(self) -> list[tuple[str, int]]:
        """Each request's operation and the number of items it returned, in order."""
        return [(operation, items) for operation, _, items in self.sent]

    def of(self, operation: str) -> list[tuple[dict[str, Any], int]]:
        return [(params, items) for name, params, items in self.sent if name == operation]


@contextlib.contextmanager
def recording(client: Any) -> Iterator[Requests]:
    requests = Requests()
    events = client.meta.events
    events.register("before-parameter-build.dynamodb", requests.before, unique_id="test-waiting-room-before")
    events.register("after-call.dynamodb", requests.after, unique_id="test-waiting-room-after")
    try:
        yield requests
    finally:
        events.unregister("before-parameter-build.dynamodb", unique_id="test-waiting-room-before")
        events.unregister("after-call.dynamodb", unique_id="test-waiting-room-after")


def queue_many(client: Any, leases: LeaseSemaphore, length: int) -> None:
    """``length`` executions queued, waiter-0 first. The first two queue for real; the others are copies of the
    second one's items (place and index) under their own holder and arrival, written in batches, and counted."""
    room = WaitingRoom(leases)
    for n in range(min(length, 2)):
        room.enqueue(f"waiter-{n}", f"token-of-waiter-{n}")
    model = room.find("waiter-1")
    assert model is not None
    place = client.get_item(TableName=DEFAULT_TABLE_NAME, Key=leases.queue.waiter_key(model.sort_key))["Item"]
    index = client.get_item(TableName=DEFAULT_TABLE_NAME, Key=leases.queue.index_key(model.key))["Item"]
    arrived_ms = int(model.sort_key.split("#")[0])
    items = []
    for n in range(2, length):
        holder = f"waiter-{n}"
        sort_key = f"{arrived_ms + n:015d}#{holder_key(holder)}"
        items.append({**place, **leases.queue.waiter_key(sort_key), "holder": {"S": holder}, "token": {"S": f"t{n}"}})
        items.append({**index, **leases.queue.index_key(holder_key(holder)), "at": {"S": sort_key}})
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={DEFAULT_TABLE_NAME: batch})
    if length > 2:
        client.update_item(
            TableName=DEFAULT_TABLE_NAME,
            Key=semaphore_key(leases.prefix),
            UpdateExpression="ADD waiting :more, enqueued :more",
            ExpressionAttributeValues={":more": {"N": str(length - 2)}},
        )
    # Read back through the queue's own code: the copies are waiters like the others.
    assert len(room.waiters()) == length and waiting_count(client, leases.prefix) == length
    last = room.find(f"waiter-{length - 1}")
    assert last is not None and room.waiters()[-1] == last


@pytest.fixture
def short_and_long_queue(dynamodb: Any, clock: SteppingClock) -> tuple[LeaseSemaphore, LeaseSemaphore]:
    """Two prefixes of cap 1, each held by "holder": one with 2 executions queued, one with 200."""
    queues = []
    for prefix, length in (("short", 2), ("long", 200)):
        leases = semaphore(dynamodb, clock=clock, prefix=prefix)
        leases.acquire("holder")
        queue_many(dynamodb, leases, length)
        queues.append(leases)
    return queues[0], queues[1]


def test_a_hand_over_reads_one_place_of_the_queue_whether_two_or_two_hundred_wait(
    dynamodb: Any, short_and_long_queue: tuple[LeaseSemaphore, LeaseSemaphore]
) -> None:
    profiles = []
    for leases in short_and_long_queue:
        with recording(dynamodb) as requests:
            handed = leases.release("holder").handed_to
        assert handed is not None and handed.waiter.holder == "waiter-0"
        queries = requests.of("Query")
        assert [(params.get("Limit"), items) for params, items in queries] == [(1, 1)], leases.prefix
        assert requests.of("Scan") == []
        profiles.append(requests.profile())

    short, long = profiles
    assert long == short  # the same requests, returning as many items, with 100 times the queue
    assert sum(items for _, items in long) <= 4  # the semaphore item (twice at most), one place, one index


def test_a_re_check_reads_no_queue_at_all_whether_two_or_two_hundred_wait(
    dynamodb: Any, short_and_long_queue: tuple[LeaseSemaphore, LeaseSemaphore]
) -> None:
    profiles = []
    for leases in short_and_long_queue:
        stepfunctions = QuietStepFunctions()
        with recording(dynamodb) as requests:
            # waiter-1's wait timed out: its task is invoked again, with a new token, as a handoff acquire.
            outcome = lease_operations.acquire_or_queue(leases, stepfunctions, "waiter-1", "a-new-token")
        assert isinstance(outcome, lease_operations.Queued)
        assert requests.of("Query") == [] and requests.of("Scan") == []
        assert WaitingRoom(leases).find("waiter-1") is not None
        assert WaitingRoom(leases).find("waiter-1").token == "a-new-token"  # type: ignore[union-attr]
        profiles.append(requests.profile())

    short, long = profiles
    assert long == short
    assert len(long) <= 6 and sum(items for _, items in long) <= 4


def test_queueing_reads_as_many_items_with_two_hundred_waiting_as_with_two(
    dynamodb: Any, short_and_long_queue: tuple[LeaseSemaphore, LeaseSemaphore]
) -> None:
    profiles = []
    for leases in short_and_long_queue:
        with recording(dynamodb) as requests:
            outcome = lease_operations.acquire_or_queue(leases, QuietStepFunctions(), "newcomer", "its-token")
        assert isinstance(outcome, lease_operations.Queued)
        assert requests.of("Query") == [] and requests.of("Scan") == []
        profiles.append(requests.profile())

    short, long = profiles
    assert long == short
    assert len(long) <= 8 and sum(items for _, items in long) <= 3


def test_a_release_by_the_waiter_at_the_head_of_the_queue_that_holds_nothing_keeps_its_place(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock=clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2")

    assert not leases.release("run-2").held

    assert [waiter.holder for waiter in room.waiters()] == ["run-2"] and waiting_count(dynamodb) == 1
    handed = leases.release("run-1").handed_to
    assert handed is not None and handed.waiter.holder == "run-2"


@pytest.mark.wide_layout_only
def test_a_count_taken_back_after_a_reset_of_the_queue_count_never_leaves_it_below_the_queue(
    dynamodb: Any, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A duplicate queueing of H, which holds, is counted; before it sees H's lease and takes its count back, a
    # release spends H's place (H holds already) and, finding the queue empty, resets the count to 0.
    leases = semaphore(dynamodb, clock=clock, cap=3)
    for holder in ("A", "B", "H"):
        assert isinstance(leases.acquire(holder, behind_waiters=True), Acquired)
    room = WaitingRoom(leases)
    once_before(monkeypatch, WideLeases, "entry", lambda: leases.release("A"))

    assert room.join("H", "token-of-H") is None
    assert waiting_count(dynamodb) == 0  # not -1: the take-back found the count changed and left it

    assert isinstance(leases.acquire("C", behind_waiters=True), Acquired)
    queued = room.join("D", "token-of-D")
    assert queued is not None and waiting_count(dynamodb) == 1
    handed = leases.release("B").handed_to
    assert handed is not None and handed.waiter.holder == "D"  # B's slot goes to D, not to a newcomer
    assert isinstance(leases.acquire("E", behind_waiters=True), MustWait)


def test_a_release_or_reclaim_through_a_client_that_saw_the_other_layout_still_finds_the_lease(
    dynamodb: Any, clock: SteppingClock, item_layout: str
) -> None:
    other = aws_client("dynamodb")  # another Lambda, whose hint is the other layout
    with wide_above(1):
        seen_elsewhere = semaphore(other, clock=clock, cap=1 if item_layout == "wide" else 2)
        seen_elsewhere.acquire("X")
        seen_elsewhere.release("X")
        leases = semaphore(dynamodb, clock=clock, cap=2)
        leases.set_cap(2 if item_layout == "wide" else 1)  # idle: it takes the layout of this run
        leases.acquire("B")
        clock.now += 61

        assert seen_elsewhere.reclaim(seen_elsewhere.inspect().expired(int(clock.now))) == [holder_key("B")]
        assert holders_in_table(dynamodb, "analytics") == {}


# -- wide layout: free slots go to several waiters in one transaction ----------------------------------


class TransactionLog:
    """How many waiters each wide-layout transaction admitted (holder items it created)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.admitted: list[int] = []
        send = WideLeases._transact
        log = self

        def transact(leases: WideLeases, items: list[dict[str, Any]]) -> None:
            send(leases, items)
            updates = [item["Update"] for item in items if "Update" in item]
            log.admitted.append(sum("attribute_not_exists" in update["ConditionExpression"] for update in updates))

        monkeypatch.setattr(WideLeases, "_transact", transact)


def full_with_queue(dynamodb: Any, clock: SteppingClock, cap: int, waiters: int) -> tuple[LeaseSemaphore, list[str]]:
    """A prefix with ``cap`` holders (h0, h1...) and ``waiters`` executions queued behind them (w0 oldest)."""
    leases = semaphore(dynamodb, clock=clock, cap=cap)
    for index in range(cap):
        assert isinstance(leases.acquire(f"h{index}", behind_waiters=True), Acquired)
    queued = [f"w{index}" for index in range(waiters)]
    queue(leases, *queued)
    return leases, queued


@pytest.mark.wide_layout_only
def test_free_slots_of_a_wide_prefix_go_to_the_oldest_waiters_several_to_a_transaction(
    dynamodb: Any, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lease_core.wide_layout.MAX_ADMITTED_AT_ONCE", 3)
    leases, queued = full_with_queue(dynamodb, clock, cap=6, waiters=6)
    set_holders(dynamodb, {f"h{index}": None for index in range(5)})  # five slots freed outright
    log = TransactionLog(monkeypatch)

    admitted = WaitingRoom(leases).fill_free_slots()

    assert [admission.waiter.holder for admission in admitted] == queued[:5]
    assert log.admitted == [3, 2]  # at most three at a time, as many as slots are free
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("h5", *queued[:5])
    assert int(semaphore_item(dynamodb)[COUNT]["N"]) == 6  # the count is the number of holder items
    assert waiting_count(dynamodb) == 1 and [w.holder for w in WaitingRoom(leases).waiters()] == ["w5"]
    assert all(index_item(dynamodb, leases, holder) is None for holder in queued[:5])
    assert len({admission.grant for admission in admitted}) == 5  # each admission its own grant


@pytest.mark.wide_layout_only
def test_a_batch_takes_off_the_queue_count_only_the_places_it_counts(
    dynamodb: Any, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A place written but not yet counted (its queueing is between the two writes) may be served in a batch:
    # taking it off the count would take another waiter's count and strand that waiter.
    leases, queued = full_with_queue(dynamodb, clock, cap=4, waiters=2)
    uncounted = leases.queue.put("w-uncounted", "token-of-w-uncounted", int(clock() * 1000))
    queue(leases, "w-last")
    assert waiting_count(dynamodb) == 3
    set_holders(dynamodb, {"h0": None, "h1": None, "h2": None})

    admitted = WaitingRoom(leases).fill_free_slots()

    assert [admission.waiter.holder for admission in admitted] == [*queued, uncounted.holder]
    assert waiting_count(dynamodb) == 1  # w-last's count, not 0
    assert [w.holder for w in WaitingRoom(leases).waiters()] == ["w-last"]


@pytest.mark.wide_layout_only
def test_a_batch_that_meets_a_waiter_holding_already_spends_its_place_and_admits_the_next_instead(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases, _ = full_with_queue(dynamodb, clock, cap=4, waiters=3)
    # w1 got a slot by itself meanwhile, and three slots are free.
    set_holders(dynamodb, {"h0": None, "h1": None, "h2": None, "w1": Entry(int(clock()) + 60)})

    admitted = WaitingRoom(leases).fill_free_slots()

    assert [admission.waiter.holder for admission in admitted] == ["w0", "w2"]
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("h3", "w0", "w1", "w2")
    assert int(semaphore_item(dynamodb)[COUNT]["N"]) == 4
    assert waiting_count(dynamodb) == 0 and WaitingRoom(leases).waiters() == []


@pytest.mark.wide_layout_only
def test_a_batch_whose_answer_was_lost_reports_every_admission_it_made(
    dynamodb: Any, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases, queued = full_with_queue(dynamodb, clock, cap=3, waiters=3)
    set_holders(dynamodb, {"h0": None, "h1": None, "h2": None})
    send = WideLeases._transact

    def landed_but_unanswered(self: WideLeases, items: list[dict[str, Any]]) -> None:
        send(self, items)
        raise LeaseStoreUnavailable("the connection dropped after DynamoDB committed")

    monkeypatch.setattr(WideLeases, "_transact", landed_but_unanswered)
    admitted = WaitingRoom(leases).fill_free_slots()

    assert [admission.waiter.holder for admission in admitted] == queued
    assert {holder_key(a.waiter.holder): a.expires_at for a in admitted} == holders_in_table(dynamodb, "analytics")
    assert all(index_item(dynamodb, leases, holder) is None for holder in queued)


@pytest.mark.wide_layout_only
def test_a_batch_beaten_to_one_waiter_by_the_same_entry_reports_no_admission_it_did_not_make(
    dynamodb: Any, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another admitter gives w0 alone its slot, with the very entry this batch would give it (same second, same
    # grant: 1 in 9,999). The cancelled batch must not read that as its own landing and report w1 as admitted.
    leases, _ = full_with_queue(dynamodb, clock, cap=3, waiters=2)
    set_holders(dynamodb, {"h0": None, "h1": None})
    monkeypatch.setattr("lease_core.wide_layout.new_grant", lambda: 7)
    send, fired = WideLeases._transact, [False]

    def another_admitter_serves_w0_first(self: WideLeases, items: list[dict[str, Any]]) -> None:
        if not fired[0]:
            fired[0] = True
            create = next(
                item["Update"]
                for item in items
                if item.get("Update", {}).get("Key", {}).get("sk", {}).get("S") == holder_key("w0")
            )
            place = next(item["Delete"] for item in items if "Delete" in item)
            count = items[0]["Update"]
            dynamodb.update_item(**create)
            dynamodb.delete_item(**place)
            dynamodb.update_item(
                TableName=count["TableName"],
                Key=count["Key"],
                UpdateExpression="ADD #n :one",
                ExpressionAttributeNames={"#n": COUNT},
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        send(self, items)

    monkeypatch.setattr(WideLeases, "_transact", another_admitter_serves_w0_first)
    admitted = WaitingRoom(leases).fill_free_slots()

    assert fired[0] and [admission.waiter.holder for admission in admitted] == ["w1"]
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("h2", "w0", "w1")
    assert int(semaphore_item(dynamodb)[COUNT]["N"]) == 3


@pytest.mark.wide_layout_only
def test_a_batch_never_admits_over_a_cap_lowered_after_it_read_the_count(
    dynamodb: Any, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases, _ = full_with_queue(dynamodb, clock, cap=4, waiters=4)
    set_holders(dynamodb, {"h0": None, "h1": None, "h2": None})  # one holder left, three slots free
    once_before(monkeypatch, WideLeases, "_transact", lambda: leases.set_cap(2))

    admitted = WaitingRoom(leases).fill_free_slots()

    assert [admission.waiter.holder for admission in admitted] == ["w0"]  # one slot under the lowered cap
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("h3", "w0")
    assert waiting_count(dynamodb) == 3


@pytest.mark.wide_layout_only
def test_a_holder_queued_twice_is_admitted_once_and_its_second_place_is_spent(
    dynamodb: Any, clock: SteppingClock
) -> None:
    # One transaction may not touch an item twice (DynamoDB refuses it with a ValidationException,
    # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html), so two places
    # of one holder may not be served in one batch.
    leases, _ = full_with_queue(dynamodb, clock, cap=3, waiters=0)
    leases.queue.put("twice", "token-1", int(clock() * 1000))
    leases.queue.put("twice", "token-2", int(clock() * 1000))
    queue(leases, "after")
    set_holders(dynamodb, {"h0": None, "h1": None, "h2": None})

    admitted = WaitingRoom(leases).fill_free_slots()

    assert [admission.waiter.holder for admission in admitted] == ["twice", "after"]
    assert set(holders_in_table(dynamodb, "analytics")) == keys_of("twice", "after")
    assert WaitingRoom(leases).waiters() == [] and waiting_count(dynamodb) == 0
