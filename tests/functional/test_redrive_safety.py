"""A redriven execution never works without a lease, and cleanup of one run never touches another's.

RedriveExecution restarts a FAILED, ABORTED or TIMED_OUT Standard execution, under the same ARN, at the state
that did not succeed (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html): one that
stopped inside Process restarts straight in Process. So each run holds its leases under its own holder id
(the ARN and its redrive count; the table keeps its key, ``lease_core.item_layout.holder_key``), and Process
checks its run's lease before any work. The reclaim Lambda records each stopped run and every sweep settles the
recorded runs again: that must never touch a redriven run's lease or queue place.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import pytest
from chalice.test import Client

from lease_core import LeaseLost
from lease_core.item_layout import holder_key
from lease_core.lease_table import LeaseTable
from lease_core.reconciler import Reconciler
from lease_core.task_callbacks import still_running
from lease_core.waiting_room import WaitingRoom
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from tests.helpers import execution_arn, holders_in_table, lease_semaphore, status_change, sweep

# Each test runs on both semaphore layouts (tests/conftest.py) unless marked narrow_layout_only.
pytestmark = pytest.mark.usefixtures("item_layout")

EXECUTION = execution_arn("analytics", "redriven")


def run(number: int, execution: str = EXECUTION) -> str:
    """The holder id of one run of an execution, as the definitions write it."""
    return f"{execution}#{number}"


# The analytics prefix at its configured cap: ``analytics(dynamodb, clock=...)``.
analytics = partial(lease_semaphore, prefix="analytics", cap=15)


def process_event(holder: str) -> dict[str, Any]:
    return {"records": [{"key": "a", "value": 1}], "lease_holder": holder}


def test_process_does_its_work_when_its_run_holds_a_live_lease(dynamodb: Any, analytics_client: Client) -> None:
    analytics(dynamodb).acquire(run(0))

    answer = analytics_client.lambda_.invoke("process", process_event(run(0))).payload

    assert answer["records"] == 1


def test_a_redriven_run_that_restarts_in_process_finds_no_lease_of_its_own_and_does_no_work(
    dynamodb: Any, analytics_client: Client
) -> None:
    # The stopped run 0 still holds (its task may still run); run 1 was redriven straight into Process.
    analytics(dynamodb).acquire(run(0))

    with pytest.raises(LeaseLost, match="holds no live lease"):
        analytics_client.lambda_.invoke("process", process_event(run(1)))


def test_process_refuses_to_start_after_its_lease_was_released(dynamodb: Any, analytics_client: Client) -> None:
    leases = analytics(dynamodb)
    leases.acquire(run(0))
    leases.release(run(0))

    with pytest.raises(LeaseLost):
        analytics_client.lambda_.invoke("process", process_event(run(0)))


def test_process_refuses_to_start_under_a_lease_that_would_expire_before_its_own_timeout(dynamodb: Any) -> None:
    # Acquired 599 s ago with a 600 s TTL: live, but for less than the invocation may run.
    now = time.time()
    analytics(dynamodb, clock=now - 599).acquire(run(0))

    with pytest.raises(LeaseLost, match="before the task could end"):
        analytics(dynamodb, clock=now).check_held(run(0), for_seconds=120)
    assert analytics(dynamodb, clock=now).check_held(run(0)).expires_at > now


def test_process_without_a_lease_holder_is_an_invalid_request_not_work_without_a_lease(
    dynamodb: Any, analytics_client: Client
) -> None:
    from lease_core import InvalidLeaseRequest

    with pytest.raises(InvalidLeaseRequest, match="lease_holder"):
        analytics_client.lambda_.invoke("process", {"records": []})


def test_a_late_failure_event_of_a_stopped_run_leaves_the_redriven_runs_lease_and_queue_place(
    dynamodb: Any, lease_app_client: Any
) -> None:
    leases = analytics(dynamodb, cap=1)
    leases.acquire(run(1))  # the redriven run holds a slot
    other = execution_arn("analytics", "other")
    leases.acquire(run(0, other))  # full now; another execution's redriven run waits in line
    leases.release(run(1))
    held = leases.acquire(run(1))
    room = WaitingRoom(leases)
    room.enqueue(run(2, other), "token")

    late = status_change(lease_app_client, EXECUTION, "ABORTED", time.time() - 60)  # run 0 stopped a minute ago
    lease_app_client.lambda_.invoke("reclaim", late)
    stale_place = status_change(lease_app_client, other, "FAILED", time.time() - 60)  # run 0 of the other one
    lease_app_client.lambda_.invoke("reclaim", stale_place)

    # The redriven run's lease is neither released nor deferred.
    assert holders_in_table(dynamodb, "analytics")[holder_key(run(1))] == held.expires_at
    assert [waiter.holder for waiter in room.waiters()] == [run(2, other)]


def test_a_failure_event_names_its_run_and_settles_that_runs_lease_only(dynamodb: Any, lease_app_client: Any) -> None:
    leases = analytics(dynamodb)
    leases.acquire(run(0))
    leases.acquire(run(1))
    event = status_change(lease_app_client, EXECUTION, "FAILED", time.time() + 1)
    event["detail"]["redriveCount"] = 1

    answer = lease_app_client.lambda_.invoke("reclaim", event).payload

    assert [released["holder"] for released in answer["released"]] == [holder_key(run(1))]
    assert set(holders_in_table(dynamodb, "analytics")) == {holder_key(run(0))}


class DescribedExecution:
    """Step Functions' DescribeExecution answer for one execution, as the platform app reads it (a closed wait)."""

    def __init__(self, **described: Any) -> None:
        self.described = described

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return {"executionArn": executionArn, **self.described}


def sweeper(dynamodb: Any, now: float) -> Reconciler:
    """The sweeper as it runs at ``now``: it settles recorded stopped runs again and asks Step Functions nothing."""
    return Reconciler(LeaseTable(dynamodb, DEFAULT_TABLE_NAME, clock=lambda: now))


def test_a_sweep_keeps_a_late_lease_of_an_aborted_run_until_its_task_must_have_ended_then_reclaims_it(
    dynamodb: Any, lease_app_client: Any
) -> None:
    # Run 0 was aborted 10 s ago (a redrive may be under way) and an acquire of it landed after the event. Its
    # Process may still run, so the lease is kept until stop + task_seconds, never released at once.
    now = time.time()
    leases = analytics(dynamodb)
    leases.set_cap(15)
    leases.configure_timings(task_seconds=130, lease_seconds=600)
    lease_app_client.lambda_.invoke("reclaim", status_change(lease_app_client, EXECUTION, "ABORTED", now - 10))
    analytics(dynamodb, clock=now).acquire(run(0))

    report = sweeper(dynamodb, now).sweep()

    assert [(item.holder, item.action) for item in report.execution_ended] == [(holder_key(run(0)), "deferred")]
    assert holders_in_table(dynamodb, "analytics") == {holder_key(run(0)): int(now - 10) + 130}
    assert sweeper(dynamodb, int(now - 10) + 129).sweep().expired == []
    assert [item.holder for item in sweeper(dynamodb, int(now - 10) + 130).sweep().expired] == [holder_key(run(0))]


@pytest.mark.parametrize("status", ["FAILED", "ABORTED"])
def test_a_sweep_settling_the_stopped_run_again_never_touches_the_redriven_runs_lease(
    dynamodb: Any, lease_app_client: Any, status: str
) -> None:
    now = time.time()
    leases = analytics(dynamodb)
    leases.acquire(run(0))
    leases.configure_timings(task_seconds=130, lease_seconds=600)
    stopped = status_change(lease_app_client, EXECUTION, status, now - 20)  # run 0 stopped
    lease_app_client.lambda_.invoke("reclaim", stopped)
    redriven = leases.acquire(run(1))  # the redrive's run takes its own lease
    leases.acquire(run(0))  # and an acquire of the stopped run lands late

    sweep(lease_app_client)
    sweep(lease_app_client)

    stopped_run = {} if status == "FAILED" else {holder_key(run(0)): int(now - 20) + 130}
    assert holders_in_table(dynamodb, "analytics") == {**stopped_run, holder_key(run(1)): redriven.expires_at}


def test_a_sweep_drops_the_queue_place_the_stopped_run_took_after_its_event_and_keeps_the_redriven_runs(
    dynamodb: Any, lease_app_client: Any
) -> None:
    leases = analytics(dynamodb, cap=1)
    leases.acquire("someone-else")
    lease_app_client.lambda_.invoke("reclaim", status_change(lease_app_client, EXECUTION, "ABORTED", time.time() - 10))
    room = WaitingRoom(leases)
    room.enqueue(run(0), "token-0")  # the stopped run's acquire was in flight: it queued after the event
    room.enqueue(run(1), "token-1")  # the redriven run queues too

    report = sweeper(dynamodb, time.time()).sweep()

    assert [(item.holder, item.action) for item in report.execution_ended] == [(run(0), "dequeued")]
    assert [waiter.holder for waiter in room.waiters()] == [run(1)]
    assert leases.inspect().waiting == 1


def test_a_waiter_of_an_older_run_is_not_taken_for_its_running_redriven_execution() -> None:
    redriven = DescribedExecution(status="RUNNING", redriveCount=1)

    assert still_running(redriven, run(1))
    assert not still_running(redriven, run(0))


@pytest.mark.parametrize("hostile", ["", "x" * 257, "\u0000ctl", "#holders", 7, None, ["a"], "😀" * 65])
def test_process_refuses_a_hostile_lease_holder_before_reading_or_working(
    dynamodb: Any, analytics_client: Client, hostile: Any
) -> None:
    from lease_core import InvalidLeaseRequest

    analytics(dynamodb).acquire(run(0))
    with pytest.raises((InvalidLeaseRequest, LeaseLost)) as refused:
        analytics_client.lambda_.invoke("process", {"records": [], "lease_holder": hostile})
    # Anything that is not a valid holder id is a bad request; a valid id that holds nothing is LeaseLost.
    assert type(refused.value) is (LeaseLost if hostile == "#holders" else InvalidLeaseRequest)
