"""Hypothesis drives handoff mode (admission behind waiters, queueing, hand-over, filling) against a FIFO model.

It runs in both item layouts (the wide one with every prefix wide). The cap changes live while
executions are queued, and every admission is checked against the rule
that no waiter and no newcomer is admitted while the holders number the cap or more. After every step
the queue's items agree with each other: each waiter has one place and one index item, the ``waiting``
count is the number of places, and no holder is also in line or counted.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from lease_core import Acquired, LeaseSemaphore, MustWait
from lease_core.item_layout import WIDE_ABOVE_CAP, holder_key, index_partition
from lease_core.waiting_room import Admission, WaitingRoom
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from tests.helpers import NOW, holders_in_table, keyed, keys_of, start_moto_lease_table, wide_above

HOLDERS = st.sampled_from([f"arn:aws:states:eu-central-1:1:execution:wf:run-{n}#0" for n in range(7)])
TTL = 30


class HandoffModel:
    """The specification: holders with their expiry, a FIFO queue, and a cap that may change at any time."""

    def __init__(self, cap: int, *, reclaims_inline: bool) -> None:
        self.cap = cap
        self.holders: dict[str, int] = {}
        self.queue: list[str] = []
        # The map layout reclaims expired holders when they block an admission or a fill; the wide layout
        # leaves them to the sweeper (``sweep``).
        self.reclaims_inline = reclaims_inline

    def sweep(self, now: int) -> list[str]:
        expired = [name for name, expiry in self.holders.items() if expiry <= now]
        for name in expired:
            del self.holders[name]
        return expired

    def _reclaim_if_full(self, now: int) -> None:
        if self.reclaims_inline and len(self.holders) >= self.cap:
            for name in [name for name, expiry in self.holders.items() if expiry <= now]:
                del self.holders[name]

    def fill(self, now: int) -> list[str]:
        admitted = []
        while self.queue:
            self._reclaim_if_full(now)
            if len(self.holders) >= self.cap:
                break
            head = self.queue.pop(0)
            self.holders[head] = now + TTL
            admitted.append(head)
        return admitted

    def acquire(self, holder: str, now: int) -> tuple[bool, list[str]]:
        """Whether ``holder`` was admitted at once, and who was admitted from the queue after it queued."""
        if holder in self.holders:
            self.holders[holder] = now + TTL
            return True, []
        if not self.queue:
            expired = [name for name, expiry in self.holders.items() if expiry <= now and self.reclaims_inline]
            if len(self.holders) - len(expired) < self.cap:
                self._reclaim_if_full(now)
                self.holders[holder] = now + TTL
                return True, []
        if holder not in self.queue:
            self.queue.append(holder)
        return False, self.fill(now)

    def release(self, holder: str, now: int) -> tuple[bool, str | None]:
        if holder not in self.holders:
            return False, None
        if self.queue and len(self.holders) <= self.cap:
            head = self.queue.pop(0)
            del self.holders[holder]
            self.holders[head] = now + TTL
            return True, head
        del self.holders[holder]
        return True, None


class HandoffAgainstModel(RuleBasedStateMachine):
    wide = False  # every cap here is within the map layout's threshold

    @initialize(cap=st.integers(min_value=1, max_value=4))
    def start(self, cap: int) -> None:
        self.layout = wide_above(0 if self.wide else WIDE_ABOVE_CAP)
        self.layout.__enter__()
        self.mock, self.client = start_moto_lease_table()
        self.now = float(NOW)
        self.model = HandoffModel(cap, reclaims_inline=not self.wide)
        self.leases = LeaseSemaphore(
            self.client, DEFAULT_TABLE_NAME, "model", ttl_seconds=TTL, initial_cap=cap, clock=lambda: self.now
        )
        self.leases.set_cap(cap)
        self.room = WaitingRoom(self.leases)
        self.admissions_at_or_over_cap: list[str] = []

    def teardown(self) -> None:
        if hasattr(self, "mock"):
            self.mock.stop()
        if hasattr(self, "layout"):
            self.layout.__exit__(None, None, None)

    def _holders(self) -> dict[str, int]:
        return holders_in_table(self.client, "model")

    @rule(holder=HOLDERS)
    def acquire_or_queue(self, holder: str) -> None:
        now = int(self.now)
        before = self._holders()
        admitted_now, from_queue = self.model.acquire(holder, now)
        outcome = self.leases.acquire(holder, behind_waiters=True)
        if admitted_now:
            assert isinstance(outcome, Acquired)
            if holder_key(holder) not in before:
                self._check_admission(holder, before)
            return
        assert isinstance(outcome, MustWait)
        self.now += 0.01  # arrivals are strictly ordered in milliseconds (float rounding spares 10 ms steps)
        assert self.room.enqueue(holder, f"token-{holder}") is not None
        filled_before = self._holders()
        filled = self.room.fill_free_slots()
        assert [admission.waiter.holder for admission in filled] == from_queue
        self._check_fill(filled, filled_before)

    @rule(holder=HOLDERS)
    def release(self, holder: str) -> None:
        before = self._holders()
        held, handed_to = self.model.release(holder, int(self.now))
        released = self.leases.release(holder)
        assert released.held is held
        assert (released.handed_to.waiter.holder if released.handed_to else None) == handed_to
        # A hand-over admits a waiter: the holders without the releaser must have been below the cap.
        if handed_to is not None and len(before) - 1 >= self.model.cap:
            self.admissions_at_or_over_cap.append(f"{handed_to} handed {holder}'s slot at {len(before)} holders")

    @rule()
    def fill_free_slots(self) -> None:
        expected = self.model.fill(int(self.now))
        before = self._holders()
        filled = self.room.fill_free_slots()
        assert [admission.waiter.holder for admission in filled] == expected
        self._check_fill(filled, before)

    @rule()
    def sweep(self) -> None:
        expired = self.model.sweep(int(self.now))
        assert sorted(self.leases.reclaim_expired()) == sorted(keys_of(*expired))

    @rule(seconds=st.integers(min_value=1, max_value=45))
    def time_passes(self, seconds: int) -> None:
        self.now = float(int(self.now) + seconds)

    @precondition(lambda self: hasattr(self, "model"))
    @rule(cap=st.integers(min_value=1, max_value=4))
    def set_cap(self, cap: int) -> None:
        assert self.leases.set_cap(cap).new == cap
        self.model.cap = cap

    def _check_admission(self, holder: str, before: dict[str, int]) -> None:
        live_before = [name for name, expiry in before.items() if expiry > int(self.now)]
        if len(live_before) >= self.model.cap:
            self.admissions_at_or_over_cap.append(f"{holder} admitted at {len(live_before)} live holders")

    def _check_fill(self, filled: list[Admission], before: dict[str, int]) -> None:
        count = len([name for name, expiry in before.items() if expiry > int(self.now)])
        for admission in filled:
            if count >= self.model.cap:
                self.admissions_at_or_over_cap.append(f"{admission.waiter.holder} filled at {count} holders")
            count += 1

    @invariant()
    def table_holds_exactly_the_models_holders_and_queue(self) -> None:
        if hasattr(self, "model"):
            assert self._holders() == keyed(self.model.holders)
            assert [waiter.holder for waiter in self.room.waiters()] == self.model.queue

    @invariant()
    def a_waiter_has_one_counted_place_and_is_never_also_a_holder(self) -> None:
        if not hasattr(self, "model"):
            return
        snapshot = self.leases.inspect()
        places = {waiter.key: waiter.sort_key for waiter in self.room.waiters()}
        index = self.client.query(
            TableName=DEFAULT_TABLE_NAME,
            KeyConditionExpression="pk = :partition",
            ExpressionAttributeValues={":partition": {"S": index_partition("model")}},
            ConsistentRead=True,
        )["Items"]
        assert {item["sk"]["S"]: (item["at"]["S"], item["counted"]["BOOL"]) for item in index} == {
            key: (sort_key, True) for key, sort_key in places.items()
        }
        assert snapshot.waiting == len(places)
        assert set(places).isdisjoint(snapshot.holders)

    @invariant()
    def nobody_is_admitted_while_the_holders_number_the_cap_or_more(self) -> None:
        assert getattr(self, "admissions_at_or_over_cap", []) == []


HandoffAgainstModel.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
test_handoff_agrees_with_the_fifo_model_while_the_cap_changes_live = HandoffAgainstModel.TestCase


class WideHandoffAgainstModel(HandoffAgainstModel):
    wide = True  # every prefix in the wide layout: a count and one item per holder


WideHandoffAgainstModel.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
test_handoff_in_the_wide_layout_agrees_with_the_fifo_model_while_the_cap_changes_live = WideHandoffAgainstModel.TestCase
