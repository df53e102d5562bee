"""Handoff mode's queue against moto's DynamoDB: first come, first served, no slot idle while someone waits."""

from __future__ import annotations

from typing import Any

import pytest

from lease_core import Acquired, LeaseSemaphore, MustWait
from lease_core.semaphore import semaphore_key
from lease_core.waiting_room import WaitingRoom
from lease_ops.table import DEFAULT_TABLE_NAME
from tests.helpers import holders_in_table


class SteppingClock:
    """Every reading is 1 ms later than the last: arrivals are strictly ordered, as on a real clock."""

    def __init__(self, now: float = 1_800_000_000) -> None:
        self.now = now

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


def semaphore(client: Any, clock: SteppingClock, cap: int = 1, ttl: int = 60) -> LeaseSemaphore:
    return LeaseSemaphore(client, DEFAULT_TABLE_NAME, "analytics", ttl_seconds=ttl, initial_cap=cap, clock=clock)


def queue(leases: LeaseSemaphore, *holders: str) -> WaitingRoom:
    room = WaitingRoom(leases)
    for holder in holders:
        assert isinstance(leases.acquire(holder, behind_waiters=True), MustWait)
        room.enqueue(holder, f"token-of-{holder}")
    return room


def waiting_count(client: Any) -> int:
    item = client.get_item(TableName=DEFAULT_TABLE_NAME, Key=semaphore_key("analytics"), ConsistentRead=True)["Item"]
    return int(item.get("waiting", {"N": "0"})["N"])


def test_a_release_hands_the_slot_to_the_oldest_waiter_in_the_same_write(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2", "run-3")

    released = leases.release("run-1")

    assert released.held and released.handed_to is not None
    assert released.handed_to.waiter.holder == "run-2"
    assert released.handed_to.as_event()["status"] == "acquired"
    assert set(holders_in_table(dynamodb, "analytics")) == {"run-2"}
    assert [waiter.holder for waiter in room.waiters()] == ["run-3"]
    assert waiting_count(dynamodb) == 1


def test_waiters_are_served_in_the_order_they_arrived(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock)
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
    leases = semaphore(dynamodb, clock, cap=2)
    leases.acquire("run-1")
    leases.acquire("run-2")
    room = queue(leases, "run-3")
    # A release that lands between run-3's failed admission and its queueing frees a slot outright.
    dynamodb.update_item(
        TableName=DEFAULT_TABLE_NAME,
        Key=semaphore_key("analytics"),
        UpdateExpression="REMOVE holders.#h",
        ExpressionAttributeNames={"#h": "run-1"},
    )

    newcomer = leases.acquire("run-4", behind_waiters=True)
    admitted = room.fill_free_slots()

    assert isinstance(newcomer, MustWait)
    assert [admission.waiter.holder for admission in admitted] == ["run-3"]
    assert set(holders_in_table(dynamodb, "analytics")) == {"run-2", "run-3"}


def test_without_handoff_a_newcomer_still_takes_a_free_slot_as_in_poll_mode(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock, cap=2)
    leases.acquire("run-1")
    WaitingRoom(leases).enqueue("run-2", "token")  # queued in a race; only the handoff admission respects it

    assert isinstance(leases.acquire("run-3"), Acquired)


def test_queueing_again_keeps_the_place_in_line_and_takes_the_new_token(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2", "run-3")

    again = room.enqueue("run-2", "a-fresh-token")

    assert [waiter.holder for waiter in room.waiters()] == ["run-2", "run-3"]
    assert again is not None and room.head() == again
    assert waiting_count(dynamodb) == 2
    handed = leases.release("run-1").handed_to
    assert handed is not None and handed.waiter.token == "a-fresh-token"


def test_a_waiter_item_expires_a_day_after_its_last_re_check_so_an_abandoned_one_is_collected(
    dynamodb: Any, clock: SteppingClock
) -> None:
    from lease_core.waiting_room import ABANDONED_WAITER_SECONDS

    leases = semaphore(dynamodb, clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2")
    key = room._waiter_key(room.waiters()[0].sort_key)
    first = int(dynamodb.get_item(TableName=DEFAULT_TABLE_NAME, Key=key)["Item"]["ttl"]["N"])
    clock.now += 300
    room.enqueue("run-2", "re-checked")

    refreshed = int(dynamodb.get_item(TableName=DEFAULT_TABLE_NAME, Key=key)["Item"]["ttl"]["N"])
    assert ABANDONED_WAITER_SECONDS > 86_400
    assert first == int(clock.now) - 300 + ABANDONED_WAITER_SECONDS
    assert refreshed == int(clock.now) + ABANDONED_WAITER_SECONDS


def test_a_slot_handed_to_a_gone_waiter_is_taken_back_under_its_grant_and_passed_on(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock)
    leases.acquire("run-1")
    queue(leases, "run-2", "run-3")
    handed = leases.release("run-1").handed_to
    assert handed is not None

    passed = leases.release("run-2", grant=handed.grant)

    assert passed.held and passed.handed_to is not None and passed.handed_to.waiter.holder == "run-3"
    assert set(holders_in_table(dynamodb, "analytics")) == {"run-3"}


def test_a_lease_the_waiter_took_again_by_itself_is_not_taken_back_under_the_old_grant(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock)
    leases.acquire("run-1")
    queue(leases, "run-2", "run-3")
    handed = leases.release("run-1").handed_to
    assert handed is not None
    # run-2's wait timed out and its re-check took the slot it already held, as a lease of its own.
    assert isinstance(leases.acquire("run-2", behind_waiters=True), Acquired)

    passed = leases.release("run-2", grant=handed.grant)

    assert passed.as_event() == {"status": "not_held"}
    assert set(holders_in_table(dynamodb, "analytics")) == {"run-2"}


def test_each_hand_over_records_its_own_grant_and_a_plain_lease_has_none(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock, cap=2)
    leases.acquire("run-1")
    leases.acquire("run-2")
    queue(leases, "run-3", "run-4")
    first = leases.release("run-1").handed_to
    second = leases.release("run-3").handed_to
    assert first is not None and second is not None

    holders = leases.inspect().holders

    assert holders["run-4"].grant == second.grant != first.grant
    assert holders["run-2"].grant is None


def test_free_slots_go_to_waiters_after_expired_holders_are_reclaimed(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock, cap=2, ttl=60)
    leases.acquire("run-1")
    leases.acquire("run-2")
    room = queue(leases, "run-3", "run-4", "run-5")
    clock.now += 61  # both leases expire unreleased (their executions died)

    admitted = room.fill_free_slots()

    assert [admission.waiter.holder for admission in admitted] == ["run-3", "run-4"]
    assert set(holders_in_table(dynamodb, "analytics")) == {"run-3", "run-4"}
    assert [waiter.holder for waiter in room.waiters()] == ["run-5"]
    assert waiting_count(dynamodb) == 1


def test_a_waiter_that_got_in_by_itself_loses_its_place_and_the_next_one_is_served(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock, cap=2)
    leases.acquire("run-1")
    leases.acquire("run-2")
    queue(leases, "run-3", "run-4")
    # run-3 holds a slot anyway (a duplicate invocation of its acquire before it queued).
    dynamodb.update_item(
        TableName=DEFAULT_TABLE_NAME,
        Key=semaphore_key("analytics"),
        UpdateExpression="REMOVE holders.#one SET holders.#three = :lease",
        ExpressionAttributeNames={"#one": "run-1", "#three": "run-3"},
        ExpressionAttributeValues={":lease": {"M": {"a": {"N": "1"}, "e": {"N": "9999999999"}}}},
    )

    handed = leases.release("run-2").handed_to

    assert handed is not None and handed.waiter.holder == "run-4"
    assert set(holders_in_table(dynamodb, "analytics")) == {"run-3", "run-4"}
    assert waiting_count(dynamodb) == 0


def test_a_count_of_waiters_that_are_not_there_is_reset_and_the_release_frees_the_slot(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2")
    dynamodb.delete_item(TableName=DEFAULT_TABLE_NAME, Key=room._waiter_key(room.waiters()[0].sort_key))

    released = leases.release("run-1")

    assert released.held and released.handed_to is None
    assert holders_in_table(dynamodb, "analytics") == {}
    assert waiting_count(dynamodb) == 0
    assert isinstance(leases.acquire("run-3", behind_waiters=True), Acquired)


def test_removing_a_waiter_takes_it_out_of_line_and_out_of_the_count(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2", "run-3")

    assert room.remove(room.waiters()[0]) is True
    assert room.remove(room.waiters()[0]) is True
    assert room.waiters() == [] and waiting_count(dynamodb) == 0
    assert leases.release("run-1").handed_to is None


def test_releasing_a_holder_that_does_not_hold_hands_nothing_over(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2")

    assert leases.release("run-9").as_event() == {"status": "not_held"}
    assert [waiter.holder for waiter in room.waiters()] == ["run-2"]
    assert set(holders_in_table(dynamodb, "analytics")) == {"run-1"}


# -- a write that lands but whose answer is lost ---------------------------------------------------


@pytest.fixture
def faults(dynamodb: Any) -> Any:
    from lease_ops.chaos.dynamodb_faults import DynamoFaults

    injected = DynamoFaults()
    injected.attach(dynamodb)
    return injected


def test_a_hand_over_whose_answer_is_lost_is_still_reported_so_the_waiter_is_told(
    dynamodb: Any, clock: SteppingClock, faults: Any
) -> None:
    leases = semaphore(dynamodb, clock)
    leases.acquire("run-1")
    queue(leases, "run-2")

    faults.arm("lost-response")
    released = leases.release("run-1")

    assert faults.total() == 1
    assert released.handed_to is not None and released.handed_to.waiter.holder == "run-2"
    assert leases.inspect().holders["run-2"].grant == released.handed_to.grant


def test_queueing_whose_answer_is_lost_queues_once(dynamodb: Any, clock: SteppingClock, faults: Any) -> None:
    leases = semaphore(dynamodb, clock)
    leases.acquire("run-1")
    room = WaitingRoom(leases)

    faults.arm("lost-response")
    waiter = room.enqueue("run-2", "token")

    assert faults.total() == 1
    assert waiter is not None and room.waiters() == [waiter]
    assert waiting_count(dynamodb) == 1


def test_filling_a_free_slot_whose_answer_is_lost_still_admits_the_waiter_once(
    dynamodb: Any, clock: SteppingClock, faults: Any
) -> None:
    leases = semaphore(dynamodb, clock, cap=2)
    leases.acquire("run-1")
    room = WaitingRoom(leases)
    room.enqueue("run-2", "token-2")
    room.enqueue("run-3", "token-3")

    faults.arm("lost-response")
    admitted = room.fill_free_slots()

    assert faults.total() == 1
    assert [admission.waiter.holder for admission in admitted] == ["run-2"]
    assert set(holders_in_table(dynamodb, "analytics")) == {"run-1", "run-2"}
    assert [waiter.holder for waiter in room.waiters()] == ["run-3"]


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
    leases = semaphore(dynamodb, clock, cap=2)
    leases.acquire("run-1")
    leases.acquire("run-2")
    room = queue(leases, "waiter-1")
    # run-1's release sees someone waiting; before it reads the queue, run-2's release serves waiter-1;
    # before run-1 resets the count it found wrong, waiter-2 queues.
    once_before(monkeypatch, WaitingRoom, "head", lambda: leases.release("run-2"))
    once_before(monkeypatch, WaitingRoom, "_forget_phantom_waiters", lambda: room.enqueue("waiter-2", "t2"))

    released = leases.release("run-1")

    assert released.handed_to is not None and released.handed_to.waiter.holder == "waiter-2"
    assert set(holders_in_table(dynamodb, "analytics")) == {"waiter-1", "waiter-2"}
    assert (waiting_count(dynamodb), room.waiters()) == (0, [])


def test_a_hand_over_tells_the_token_the_waiter_waits_with_now_not_the_one_it_replaced(
    dynamodb: Any, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases = semaphore(dynamodb, clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2")  # waiting with token-of-run-2
    # Its wait times out and its re-check refreshes the token just after the release read the queue.
    once_before(monkeypatch, WaitingRoom, "_transact", lambda: room.enqueue("run-2", "the-new-token"))

    handed = leases.release("run-1").handed_to

    assert handed is not None and handed.waiter.token == "the-new-token"
    assert waiting_count(dynamodb) == 0


def test_an_execution_that_holds_a_slot_cannot_also_queue(dynamodb: Any, clock: SteppingClock) -> None:
    leases = semaphore(dynamodb, clock)
    leases.acquire("run-1")
    room = WaitingRoom(leases)

    assert room.enqueue("run-1", "token") is None
    assert (room.waiters(), waiting_count(dynamodb)) == ([], 0)


def test_a_release_skips_a_stale_place_of_the_releaser_itself_and_serves_the_next(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock)
    leases.acquire("run-1")
    room = queue(leases, "run-2")
    # A place of run-1's own, older than run-2's, left from before it got its slot.
    dynamodb.put_item(
        TableName=DEFAULT_TABLE_NAME,
        Item={**room._waiter_key("000000000000001#x"), "holder": {"S": "run-1"}, "token": {"S": "old"}},
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


def test_a_newcomer_reclaiming_an_expired_slot_yields_to_an_execution_that_queued_meanwhile(
    dynamodb: Any, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases = semaphore(dynamodb, clock, ttl=60)
    leases.acquire("dead-holder")
    clock.now += 61
    room = WaitingRoom(leases)
    once_before(monkeypatch, LeaseSemaphore, "_admit_over_expired", lambda: room.enqueue("earlier", "t"))

    late = leases.acquire("newcomer", behind_waiters=True)

    assert isinstance(late, MustWait)
    assert "newcomer" not in holders_in_table(dynamodb, "analytics")
    assert [admission.waiter.holder for admission in room.fill_free_slots()] == ["earlier"]


def test_after_the_cap_is_lowered_releases_free_their_slots_and_the_queue_waits_until_holders_are_below_it(
    dynamodb: Any, clock: SteppingClock
) -> None:
    # The reproduction of the lowered-cap defect: cap 3, three holders, three waiters, cap lowered to 1.
    leases = semaphore(dynamodb, clock, cap=3)
    for holder in ("h1", "h2", "h3"):
        assert isinstance(leases.acquire(holder, behind_waiters=True), Acquired)
    room = queue(leases, "w1", "w2", "w3")
    leases.set_cap(1)

    after_each_release = []
    for holder in ("h1", "h2", "h3"):
        released = leases.release(holder)
        assert released.held
        after_each_release.append((sorted(holders_in_table(dynamodb, "analytics")), released.handed_to))

    # h1 and h2 leave two and one holders: at or above the cap of 1, so nobody is handed a slot.
    assert after_each_release[0] == (["h2", "h3"], None)
    assert after_each_release[1] == (["h3"], None)
    # h3's release is the first below the cap: its slot goes to the oldest waiter, in the same write.
    holders, handed_to = after_each_release[2]
    assert holders == ["w1"] and handed_to is not None and handed_to.waiter.holder == "w1"
    assert [waiter.holder for waiter in room.waiters()] == ["w2", "w3"]
    assert room.fill_free_slots() == []
    assert isinstance(leases.acquire("newcomer", behind_waiters=True), MustWait)


def test_a_free_slot_is_not_filled_from_the_queue_while_holders_are_over_a_lowered_cap(
    dynamodb: Any, clock: SteppingClock
) -> None:
    leases = semaphore(dynamodb, clock, cap=2)
    leases.acquire("h1")
    leases.acquire("h2")
    room = queue(leases, "w1")
    leases.set_cap(1)

    assert leases.release("h1").handed_to is None
    assert room.fill_free_slots() == []
    assert sorted(holders_in_table(dynamodb, "analytics")) == ["h2"]
    assert [waiter.holder for waiter in room.waiters()] == ["w1"]
