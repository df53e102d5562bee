"""The platform app in handoff mode: every slot it frees goes to the oldest waiter, and dead waiters leave the line."""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

import pytest
from chalice.test import Client

from lease_core import LeaseSemaphore
from lease_core.waiting_room import WaitingRoom
from lease_ops.local_runner.task_tokens import TASK_TOKENS, route_moto_callbacks
from tests.helpers import holders_in_table, keys_of, lease_semaphore, start, status_change, sweep

# Each test runs on both semaphore layouts (tests/conftest.py) unless marked narrow_layout_only.
pytestmark = pytest.mark.usefixtures("item_layout")

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client(lease_app_client: Client) -> Client:
    route_moto_callbacks()  # moto's SendTaskSuccess reaches the task tokens issued here
    return lease_app_client


# The batch prefix, one slot unless told: ``batch(dynamodb, cap=2, clock=...)``.
batch = partial(lease_semaphore, prefix="batch", cap=1)


def queue(leases: LeaseSemaphore, holder: str, *, try_first: bool = True) -> str:
    """``holder`` queues as a handoff acquire does; returns the token its waiting task would have."""
    token = TASK_TOKENS.issue()
    if try_first:
        leases.acquire(holder, behind_waiters=True)
    WaitingRoom(leases).enqueue(holder, token)
    return token


def told(token: str) -> dict[str, Any] | None:
    pending = TASK_TOKENS.pending(token)
    return json.loads(pending.output) if pending.done.is_set() and pending.output else None


def test_a_slot_reclaimed_from_a_failed_execution_is_handed_to_the_oldest_waiter(
    client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    dead = start(stepfunctions, state_machine, "dead")
    leases = batch(dynamodb)
    leases.acquire(dead)
    leases.configure_timings(task_seconds=310, lease_seconds=1200)  # as `make deploy` records batch's TTL
    first, second = queue(leases, "waiter-1"), queue(leases, "waiter-2")

    client.lambda_.invoke("reclaim", status_change(client, dead, "FAILED", time.time() + 1))

    assert told(first) == {
        "status": "acquired",
        "holder": "waiter-1",
        "prefix": "batch",
        "expires_at": pytest.approx(time.time() + 1200, abs=5),
    }
    assert told(second) is None
    assert set(holders_in_table(dynamodb, "batch")) == keys_of("waiter-1")
    assert [waiter.holder for waiter in WaitingRoom(leases).waiters()] == ["waiter-2"]


def test_a_failed_execution_that_was_waiting_leaves_the_line(
    client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    dead = start(stepfunctions, state_machine, "dead-waiter")
    leases = batch(dynamodb)
    leases.acquire("holder")
    queue(leases, dead)
    queue(leases, "alive")

    answer = client.lambda_.invoke("reclaim", status_change(client, dead, "FAILED", time.time() + 1)).payload

    assert answer == {"released": [], "deferred": []}
    assert [waiter.holder for waiter in WaitingRoom(leases).waiters()] == ["alive"]
    assert leases.inspect().waiting == 1


def test_the_sweeper_hands_slots_freed_by_expiry_to_waiters_and_drops_waiters_of_runs_that_ended_before_queueing(
    client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    stopped = start(stepfunctions, state_machine, "stopped-while-waiting")
    stepfunctions.stop_execution(executionArn=stopped)
    batch(dynamodb, cap=2, clock=time.time() - 3600).acquire("expired")
    leases = batch(dynamodb, cap=2)
    leases.acquire("live")
    # The stop's event is handled (and the run recorded) before the run's acquire, already in flight, queues.
    client.lambda_.invoke("reclaim", status_change(client, stopped, "ABORTED", time.time()))
    # Both queued while "expired" was still live; its lease has lapsed since.
    queue(leases, stopped, try_first=False)
    waiting = queue(leases, "waiting", try_first=False)

    report = sweep(client)

    assert (report["expired"], report["dequeued"], report["handed_over"]) == (1, 1, 1)
    assert told(waiting) is not None and told(waiting)["status"] == "acquired"
    assert set(holders_in_table(dynamodb, "batch")) == keys_of("live", "waiting")
    assert leases.inspect().waiting == 0
    assert WaitingRoom(leases).waiters() == []


def test_a_waiter_whose_runs_end_was_never_announced_stays_in_line_until_its_slot_is_passed_on(
    client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    # The sweeper no longer asks Step Functions about holders (the table keeps keys, not ARNs): without the
    # failure event the dead waiter stays in line, and the slot handed to it is passed on once telling it fails.
    stopped = start(stepfunctions, state_machine, "stopped-unannounced")
    stepfunctions.stop_execution(executionArn=stopped)
    leases = batch(dynamodb)
    leases.acquire("live")
    TASK_TOKENS.close(queue(leases, stopped))  # its waiting task ended with its execution
    alive = queue(leases, "alive")

    report = sweep(client)

    assert (report["expired"], report["dequeued"], report["handed_over"]) == (0, 0, 0)
    assert [waiter.holder for waiter in WaitingRoom(leases).waiters()] == [stopped, "alive"]
    assert client.http.delete("/prefixes/batch/holders/live").status_code == 200
    assert told(alive) is not None and told(alive)["status"] == "acquired"
    assert set(holders_in_table(dynamodb, "batch")) == keys_of("alive")
    assert (WaitingRoom(leases).waiters(), leases.inspect().waiting) == ([], 0)


def test_raising_the_cap_through_the_api_hands_the_new_slots_to_the_waiters_at_once(client: Any, dynamodb: Any) -> None:
    leases = batch(dynamodb)
    leases.acquire("holder")
    tokens = [queue(leases, f"waiter-{n}") for n in range(3)]

    response = client.http.put("/prefixes/batch/cap", headers=JSON, body=json.dumps({"cap": 3}))

    assert response.status_code == 200 and response.json_body["holder_count"] == 3
    assert [told(token) is not None for token in tokens] == [True, True, False]


def test_force_releasing_a_holder_hands_its_slot_to_the_oldest_waiter(client: Any, dynamodb: Any) -> None:
    leases = batch(dynamodb)
    leases.acquire("stuck")
    token = queue(leases, "next")

    response = client.http.delete("/prefixes/batch/holders/stuck")

    assert response.status_code == 200
    assert told(token) is not None
    assert set(holders_in_table(dynamodb, "batch")) == keys_of("next")
    assert leases.inspect().waiting == 0
