"""Telling waiters they hold a slot: a gone waiter is skipped, its slot passed on; nothing else loses a slot."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lease_core import LeaseSemaphore
from lease_core.lease_table import LeaseTable
from lease_core.task_callbacks import pass_on, serve_waiting
from lease_core.waiting_room import WaitingRoom
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from tests.helpers import aws_client, execution_arn, holders_in_table, keys_of


class FakeStepFunctions:
    """Answers SendTaskSuccess like Step Functions; tokens in ``refusing`` fail with the given error code."""

    def __init__(self, refusing: dict[str, str] | None = None, running: set[str] | None = None) -> None:
        self.refusing = refusing or {}
        self.running = running or set()
        self.told: list[tuple[str, dict[str, Any]]] = []

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        if executionArn not in self.running:
            raise ClientError({"Error": {"Code": "ExecutionDoesNotExist"}}, "DescribeExecution")
        return {"executionArn": executionArn, "status": "RUNNING"}

    def send_task_success(self, taskToken: str, output: str) -> dict[str, Any]:
        if taskToken in self.refusing:
            code = self.refusing[taskToken]
            raise ClientError({"Error": {"Code": code, "Message": code}}, "SendTaskSuccess")
        self.told.append((taskToken, json.loads(output)))
        return {}


def token(holder: str) -> str:
    return f"token-of-{holder}"


@pytest.fixture
def full_semaphore(dynamodb: Any) -> LeaseSemaphore:
    """Cap 1, held by run-1, with run-2, run-3 and run-4 queued in that order."""
    leases = LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, "batch", ttl_seconds=60, initial_cap=1)
    leases.acquire("run-1")
    room = WaitingRoom(leases)
    for holder in ("run-2", "run-3", "run-4"):
        leases.acquire(holder, behind_waiters=True)
        room.enqueue(holder, token(holder))
    return leases


@pytest.mark.parametrize("gone", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_a_waiter_whose_execution_ended_is_skipped_and_the_next_one_gets_the_slot(
    full_semaphore: LeaseSemaphore, dynamodb: Any, gone: str
) -> None:
    stepfunctions = FakeStepFunctions(refusing={token("run-2"): gone})

    pass_on(full_semaphore, stepfunctions, full_semaphore.release("run-1").handed_to)

    assert [told for told, _ in stepfunctions.told] == [token("run-3")]
    assert stepfunctions.told[0][1]["status"] == "acquired"
    assert set(holders_in_table(dynamodb, "batch")) == keys_of("run-3")
    assert [waiter.holder for waiter in WaitingRoom(full_semaphore).waiters()] == ["run-4"]
    assert full_semaphore.inspect().waiting == 1


def test_a_waiter_whose_wait_timed_out_but_whose_execution_runs_keeps_the_slot_for_its_re_check(
    dynamodb: Any,
) -> None:
    alive, dead = execution_arn("batch", "re-checking"), execution_arn("batch", "aborted")
    leases = LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, "batch", ttl_seconds=60, initial_cap=1)
    leases.acquire("run-1")
    room = WaitingRoom(leases)
    for holder in (dead, alive, "run-3"):
        leases.acquire(holder, behind_waiters=True)
        room.enqueue(holder, token(holder))
    stepfunctions = FakeStepFunctions(
        refusing={token(dead): "TaskTimedOut", token(alive): "TaskTimedOut"}, running={alive}
    )

    pass_on(leases, stepfunctions, leases.release("run-1").handed_to)

    assert stepfunctions.told == []
    assert set(holders_in_table(dynamodb, "batch")) == keys_of(alive)
    assert [waiter.holder for waiter in room.waiters()] == ["run-3"]


def test_when_every_waiter_is_gone_the_slot_ends_up_free(full_semaphore: LeaseSemaphore, dynamodb: Any) -> None:
    stepfunctions = FakeStepFunctions(refusing={token(h): "TaskTimedOut" for h in ("run-2", "run-3", "run-4")})

    pass_on(full_semaphore, stepfunctions, full_semaphore.release("run-1").handed_to)

    assert stepfunctions.told == []
    assert holders_in_table(dynamodb, "batch") == {}
    assert full_semaphore.inspect().waiting == 0


def test_a_failure_to_tell_that_is_not_the_waiters_end_leaves_it_its_slot(
    full_semaphore: LeaseSemaphore, dynamodb: Any
) -> None:
    stepfunctions = FakeStepFunctions(refusing={token("run-2"): "ThrottlingException"})

    pass_on(full_semaphore, stepfunctions, full_semaphore.release("run-1").handed_to)

    # Its waiting task re-checks when it times out and finds the slot it holds.
    assert set(holders_in_table(dynamodb, "batch")) == keys_of("run-2")
    assert [waiter.holder for waiter in WaitingRoom(full_semaphore).waiters()] == ["run-3", "run-4"]


def test_a_waiter_reported_gone_that_has_taken_its_slot_as_a_lease_of_its_own_keeps_it(
    full_semaphore: LeaseSemaphore, dynamodb: Any
) -> None:
    stepfunctions = FakeStepFunctions(refusing={token("run-2"): "InvalidToken"})
    handed = full_semaphore.release("run-1").handed_to
    assert handed is not None
    # Before it is told, run-2's wait times out and its re-check renews the slot it holds as its own lease.
    full_semaphore.acquire("run-2", behind_waiters=True)

    pass_on(full_semaphore, stepfunctions, handed)

    assert stepfunctions.told == []
    assert set(holders_in_table(dynamodb, "batch")) == keys_of("run-2")
    lease = full_semaphore.inspect().lease_of("run-2")
    assert lease is not None and lease.grant == 0 and lease.entry != handed.entry
    assert [waiter.holder for waiter in WaitingRoom(full_semaphore).waiters()] == ["run-3", "run-4"]


def test_raising_the_cap_and_serving_the_table_hands_the_new_slots_to_the_oldest_waiters(
    full_semaphore: LeaseSemaphore, dynamodb: Any
) -> None:
    full_semaphore.set_cap(3)
    stepfunctions = FakeStepFunctions()

    served = serve_waiting(LeaseTable(dynamodb, DEFAULT_TABLE_NAME), stepfunctions)

    assert served == 2
    assert [told for told, _ in stepfunctions.told] == [token("run-2"), token("run-3")]
    assert set(holders_in_table(dynamodb, "batch")) == keys_of("run-1", "run-2", "run-3")
    assert [waiter.holder for waiter in WaitingRoom(full_semaphore).waiters()] == ["run-4"]
    assert full_semaphore.inspect().waiting == 1


def test_the_embedded_moto_answers_callbacks_as_step_functions_does(moto_endpoint: str) -> None:
    from lease_ops.local_runner.task_tokens import TASK_TOKENS

    stepfunctions = aws_client("stepfunctions", endpoint_url=moto_endpoint)
    waiting = TASK_TOKENS.issue()

    stepfunctions.send_task_success(taskToken=waiting, output='{"status": "acquired"}')
    codes = []
    for made_up_or_done in ("AAAA-never-issued", waiting):
        with pytest.raises(ClientError) as refused:
            stepfunctions.send_task_success(taskToken=made_up_or_done, output="{}")
        codes.append(refused.value.response["Error"]["Code"])

    assert TASK_TOKENS.pending(waiting).output == '{"status": "acquired"}'
    assert codes == ["InvalidToken", "TaskTimedOut"]
