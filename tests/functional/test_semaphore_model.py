"""Hypothesis drives the semaphore and a plain in-memory model side by side; they must always agree.

It runs twice: with the default layout threshold (every cap here is narrow: one map), and with the threshold
at 2, so that caps 3 and 4 take the wide layout (a count and one item per holder) and a cap change on an idle
prefix switches layouts in the middle of a run (``item_layout``).
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from lease_core import Acquired, LeaseLost, LeaseSemaphore
from lease_core.item_layout import WIDE_ABOVE_CAP
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from tests.helpers import NOW, holders_in_table, keyed, keys_of, layout_is_wide, start_moto_lease_table, wide_above
from tests.semaphore_spec import HOLDERS, TTL, SemaphoreModel


class SemaphoreAgainstModel(RuleBasedStateMachine):
    wide_above = WIDE_ABOVE_CAP

    @initialize(cap=st.integers(min_value=1, max_value=4))
    def start(self, cap: int) -> None:
        self.layout = wide_above(self.wide_above)
        self.layout.__enter__()
        self.mock, self.client = start_moto_lease_table()
        self.now = NOW
        self.model = SemaphoreModel(cap, self.wide_above)
        self.leases = LeaseSemaphore(
            self.client, DEFAULT_TABLE_NAME, "model", ttl_seconds=TTL, initial_cap=cap, clock=lambda: self.now
        )
        self.admissions_over_cap = 0

    def teardown(self) -> None:
        if hasattr(self, "mock"):
            self.mock.stop()
        if hasattr(self, "layout"):
            self.layout.__exit__(None, None, None)

    @rule(holder=HOLDERS)
    def acquire(self, holder: str) -> None:
        newcomer = holder not in self.model.holders
        expected = self.model.acquire(holder, self.now)
        actual = self.leases.acquire(holder)
        if isinstance(expected, Acquired):
            assert actual == Acquired(holder, "model", expected.expires_at)
            # A holder already in the map may re-acquire (idempotence) even above a lowered cap;
            # a newcomer must never take the map past the cap.
            if newcomer and len(holders_in_table(self.client, "model")) > self.model.cap:
                self.admissions_over_cap += 1
        else:
            assert actual == expected

    @rule(holder=HOLDERS)
    def release(self, holder: str) -> None:
        held = self.model.holders.pop(holder, None) is not None
        assert self.leases.release(holder).held is held

    @rule(holder=HOLDERS)
    def renew(self, holder: str) -> None:
        if holder in self.model.holders:
            self.model.holders[holder] = self.now + TTL
            assert self.leases.renew(holder).expires_at == self.now + TTL
        else:
            try:
                self.leases.renew(holder)
            except LeaseLost:
                return
            raise AssertionError(f"renew of {holder} succeeded without a lease")

    @rule(seconds=st.integers(min_value=1, max_value=45))
    def time_passes(self, seconds: int) -> None:
        self.now += seconds

    @precondition(lambda self: hasattr(self, "model"))
    @rule(cap=st.integers(min_value=1, max_value=4))
    def set_cap(self, cap: int) -> None:
        assert self.leases.set_cap(cap).new == cap
        self.model.set_cap(cap)

    @rule()
    def sweep(self) -> None:
        expired = {name for name, expiry in self.model.holders.items() if expiry <= self.now}
        for name in expired:
            del self.model.holders[name]
        assert set(self.leases.reclaim_expired()) == keys_of(*expired)

    @invariant()
    def table_holds_exactly_the_models_holders(self) -> None:
        if hasattr(self, "model"):
            assert holders_in_table(self.client, "model") == keyed(self.model.holders)

    @invariant()
    def the_prefix_is_in_the_layout_its_cap_gave_it_when_it_last_had_no_holders(self) -> None:
        if hasattr(self, "model"):
            assert layout_is_wide(self.client, "model") in (None, self.model.wide)

    @invariant()
    def no_admission_ever_left_more_holders_than_the_cap(self) -> None:
        assert getattr(self, "admissions_over_cap", 0) == 0


SemaphoreAgainstModel.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_semaphore_agrees_with_the_in_memory_model = SemaphoreAgainstModel.TestCase


class SemaphoreAgainstModelInBothLayouts(SemaphoreAgainstModel):
    wide_above = 2


SemaphoreAgainstModelInBothLayouts.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_semaphore_agrees_with_the_model_as_cap_changes_switch_its_item_layout = SemaphoreAgainstModelInBothLayouts.TestCase
