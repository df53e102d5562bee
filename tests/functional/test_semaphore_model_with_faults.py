"""Hypothesis drives the semaphore through store faults, as a rule: the table must still match the model.

A fault "before" fails the request before it is written (the caller sees
LeaseStoreUnavailable and nothing changed). A fault "lost" lets the write
happen and loses its answer; the caller then retries, as Step Functions would,
and the retry must leave the table exactly as one successful call would have.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from lease_core import Acquired, LeaseLost, LeaseSemaphore, LeaseStoreUnavailable, MustWait
from lease_ops.chaos.dynamodb_faults import DynamoFaults
from lease_ops.sandbox.moto_server import AtomicMotoServer
from tests.helpers import NO_RETRIES, holders_in_table, keyed, lease_table_client
from tests.semaphore_spec import HOLDERS, TTL, SemaphoreModel

FAULTS = st.sampled_from([None, "before", "lost"])
# A real moto server: botocore's retry rules then apply exactly as against DynamoDB.
SERVER: dict[str, str] = {}


@pytest.fixture(autouse=True, scope="module")
def moto_server_for_this_module() -> Iterator[None]:
    server = AtomicMotoServer()
    server.start()
    SERVER["endpoint"] = server.endpoint_url
    yield
    server.stop()


class SemaphoreWithFaults(RuleBasedStateMachine):
    @initialize(cap=st.integers(min_value=1, max_value=3))
    def start(self, cap: int) -> None:
        self.table = f"faults-{uuid.uuid4().hex[:12]}"
        self.client = lease_table_client(table=self.table, endpoint_url=SERVER["endpoint"], config=NO_RETRIES)
        self.faults = DynamoFaults()
        self.faults.attach(self.client)
        self.now = 1_800_000_000
        self.model = SemaphoreModel(cap)
        self.leases = LeaseSemaphore(
            self.client, self.table, "model", ttl_seconds=TTL, initial_cap=cap, clock=lambda: self.now
        )
        self.leases.set_cap(cap)
        self.over_cap = 0

    def teardown(self) -> None:
        if hasattr(self, "table"):
            self.client.delete_table(TableName=self.table)

    def _call(self, operation: str, holder: str, fault: str | None) -> Any:
        """One call under ``fault``; returns its answer, or the exception it raised."""
        self.faults.arm({"before": "timeout", "lost": "lost-response"}.get(fault or ""))
        try:
            return getattr(self.leases, operation)(holder)
        except (LeaseStoreUnavailable, LeaseLost) as exc:
            return exc
        finally:
            self.faults.arm(None)

    def _expect(self, operation: str, holder: str) -> Any:
        """What the model answers for one successful call (and its state after it)."""
        if operation == "acquire":
            return self.model.acquire(holder, self.now)
        if operation == "release":
            return self.model.holders.pop(holder, None) is not None
        if holder in self.model.holders:
            self.model.holders[holder] = self.now + TTL
            return self.now + TTL
        return LeaseLost

    @rule(operation=st.sampled_from(["acquire", "release", "renew"]), holder=HOLDERS, fault=FAULTS)
    def call_with_a_fault(self, operation: str, holder: str, fault: str | None) -> None:
        before = copy.deepcopy(self.model.holders)
        newcomer = holder not in before
        expected = self._expect(operation, holder)
        answer = self._call(operation, holder, fault)
        if fault == "before":
            assert isinstance(answer, LeaseStoreUnavailable)
            self.model.holders = before  # nothing was written
            return
        if fault == "lost" and isinstance(answer, LeaseStoreUnavailable):
            answer = self._call(operation, holder, None)  # the retry of a call whose answer was lost
            if operation == "release":
                assert answer.held in (True, False)  # the first attempt may already have released it
                return
        if operation == "acquire":
            assert (
                answer == expected
                if isinstance(expected, MustWait)
                else answer == Acquired(holder, "model", expected.expires_at)
            )
            if (
                isinstance(answer, Acquired)
                and newcomer
                and len(holders_in_table(self.client, "model", self.table)) > self.model.cap
            ):
                self.over_cap += 1
        elif operation == "release":
            assert answer.held is expected
        elif expected is LeaseLost:
            assert isinstance(answer, LeaseLost)
        else:
            assert answer.expires_at == expected

    @rule(seconds=st.integers(min_value=1, max_value=45))
    def time_passes(self, seconds: int) -> None:
        self.now += seconds

    @invariant()
    def the_table_holds_exactly_the_models_holders(self) -> None:
        if hasattr(self, "model"):
            assert holders_in_table(self.client, "model", self.table) == keyed(self.model.holders)

    @invariant()
    def no_newcomer_was_ever_admitted_over_the_cap(self) -> None:
        assert getattr(self, "over_cap", 0) == 0


SemaphoreWithFaults.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
test_semaphore_matches_the_model_through_store_faults = SemaphoreWithFaults.TestCase
