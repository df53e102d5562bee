"""Reclaim on execution failure and the sweeper, against moto DynamoDB and Step Functions executions.

The table keeps holder keys (``lease_core.item_layout.holder_key``), not holder ids: these tests compare keys.
The reclaim Lambda settles a stopped run at once and records it (``lease_core.ended_runs``); every sweep settles
the runs recorded in the last ``RESETTLE_SECONDS`` again, and asks Step Functions nothing.
"""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

import pytest
from moto.events.models import EventPattern

from lease_core.ended_runs import RESETTLE_SECONDS, EndedRun, record
from lease_core.item_layout import holder_key
from lease_core.lease_table import LeaseTable
from lease_core.reclaim_rule import execution_ended_pattern, state_machine_names
from lease_core.reconciler import Reconciler
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from lease_ops.config.chalice_apps import app_folder
from lease_ops.config.platform_config import load_platform_config
from tests.helpers import (
    ACCOUNT,
    REGION,
    arn,
    execution_arn,
    holders_in_table,
    keys_of,
    lease_semaphore,
    start,
    status_change,
    sweep,
    table_items,
)

# Each test runs on both semaphore layouts (tests/conftest.py) unless marked narrow_layout_only.
pytestmark = pytest.mark.usefixtures("item_layout")

# A semaphore of a prefix with room for every holder a test here makes: ``leases(dynamodb, "batch", clock=...)``.
leases = partial(lease_semaphore, cap=10)


def sweeper_at(dynamodb: Any, now: float) -> Reconciler:
    """The sweeper as it runs at ``now``."""
    return Reconciler(LeaseTable(dynamodb, DEFAULT_TABLE_NAME, clock=lambda: now))


def status_change_event(state_machine: str, status: str) -> dict[str, Any]:
    """A Step Functions status change as EventBridge delivers it."""
    machine = arn("states", f"stateMachine:{state_machine}")
    detail = {"executionArn": f"{machine.replace(':stateMachine:', ':execution:')}:run", "stateMachineArn": machine}
    event = {
        "id": "1",
        "account": ACCOUNT,
        "source": "aws.states",
        "time": "2026-12-04T00:00:00Z",
        "region": REGION,
        "resources": [detail["executionArn"]],
        "detail-type": "Step Functions Execution Status Change",
        "detail": {**detail, "status": status},
    }
    return event


@pytest.mark.narrow_layout_only  # about the rule, not the table
def test_the_reclaim_rule_hears_of_failed_executions_of_its_own_stages_workflows_only() -> None:
    # Matched as EventBridge matches patterns (moto's matcher; its TestEventPattern answers no Result).
    names = ["shared-lease-platform-dev-analytics-workflow", "shared-lease-platform-dev-batch-workflow"]
    pattern = EventPattern.load(json.dumps(execution_ended_pattern(names)))

    def matches(state_machine: str, status: str) -> bool:
        return bool(pattern.matches_event(status_change_event(state_machine, status)))

    for status in ("FAILED", "TIMED_OUT", "ABORTED"):
        assert matches("shared-lease-platform-dev-batch-workflow", status)
    assert not matches("shared-lease-platform-dev-batch-workflow", "SUCCEEDED")
    assert not matches("shared-lease-platform-prod-batch-workflow", "FAILED")  # the prod stage's own
    assert not matches("someone-elses-workflow", "FAILED")
    assert not matches("shared-lease-platform-dev-batch-workflow-v2", "FAILED")
    # Deployed without the names, the rule matches nothing rather than every state machine in the account.
    nothing = EventPattern.load(json.dumps(execution_ended_pattern([])))
    assert not nothing.matches_event(status_change_event("shared-lease-platform-dev-batch-workflow", "FAILED"))


def test_the_platform_apps_stage_names_the_reclaim_rules_state_machines() -> None:
    config = json.loads((app_folder("lease_app") / ".chalice" / "config.json").read_text())
    environment = config["stages"]["dev"]["environment_variables"]

    platform = load_platform_config()
    assert state_machine_names(environment) == [platform.state_machine_name(w) for w in platform.workloads.values()]
    assert state_machine_names(environment)[:2] == [
        "shared-lease-platform-dev-analytics-workflow",
        "shared-lease-platform-dev-batch-workflow",
    ]


def test_a_failed_execution_gives_back_every_lease_it_held_in_every_prefix(
    lease_app_client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    dead = start(stepfunctions, state_machine, "dead")
    alive = start(stepfunctions, state_machine, "alive")
    leases(dynamodb, "analytics").acquire(dead)
    leases(dynamodb, "batch").acquire(dead + "/0")
    leases(dynamodb, "batch").acquire(dead + "/1")
    leases(dynamodb, "batch").acquire(alive)
    leases(dynamodb, "batch").acquire(dead + "-lookalike")

    answer = lease_app_client.lambda_.invoke(
        "reclaim", status_change(lease_app_client, dead, "FAILED", time.time() + 1)
    ).payload

    assert sorted((r["prefix"], r["holder"]) for r in answer["released"]) == sorted(
        [("analytics", holder_key(dead)), ("batch", holder_key(dead + "/0")), ("batch", holder_key(dead + "/1"))]
    )
    assert holders_in_table(dynamodb, "analytics") == {}
    assert set(holders_in_table(dynamodb, "batch")) == keys_of(alive, dead + "-lookalike")


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT"])
def test_an_aborted_execution_keeps_its_lease_only_until_a_task_it_started_must_have_ended(
    lease_app_client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str, status: str
) -> None:
    execution = start(stepfunctions, state_machine, "aborted")
    batch = leases(dynamodb, "batch")
    batch.acquire(execution)
    batch.configure_timings(task_seconds=130, lease_seconds=600)
    stopped = int(time.time()) + 1

    answer = lease_app_client.lambda_.invoke(
        "reclaim", status_change(lease_app_client, execution, status, stopped)
    ).payload

    assert answer == {
        "released": [],
        "deferred": [{"prefix": "batch", "holder": holder_key(execution), "until": stopped + 130}],
    }
    assert holders_in_table(dynamodb, "batch") == {holder_key(execution): stopped + 130}


def test_an_execution_aborted_longer_ago_than_its_task_timeout_is_released_at_once(
    lease_app_client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    execution = start(stepfunctions, state_machine, "aborted-long-ago")
    batch = leases(dynamodb, "batch", clock=time.time() - 600)
    batch.acquire(execution)
    batch.configure_timings(task_seconds=130, lease_seconds=600)

    answer = lease_app_client.lambda_.invoke(
        "reclaim", status_change(lease_app_client, execution, "ABORTED", time.time() - 300)
    ).payload

    assert answer["released"] == [{"prefix": "batch", "holder": holder_key(execution)}]
    assert holders_in_table(dynamodb, "batch") == {}


def test_without_a_task_timeout_an_aborted_executions_lease_keeps_its_own_expiry(
    lease_app_client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    execution = start(stepfunctions, state_machine, "aborted")
    expires = leases(dynamodb, "batch").acquire(execution).expires_at

    answer = lease_app_client.lambda_.invoke(
        "reclaim", status_change(lease_app_client, execution, "ABORTED", time.time() + 1)
    ).payload

    assert answer["deferred"] == [{"prefix": "batch", "holder": holder_key(execution), "until": expires}]
    assert holders_in_table(dynamodb, "batch") == {holder_key(execution): expires}


def test_a_lease_of_a_failed_run_is_released_even_if_it_was_taken_after_the_run_stopped(
    lease_app_client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    # A run that FAILED ran its failure path after its last task: nothing can run under a lease it took since.
    execution = start(stepfunctions, state_machine, "failed-then-acquired")
    leases(dynamodb, "batch").acquire(execution)

    answer = lease_app_client.lambda_.invoke(
        "reclaim", status_change(lease_app_client, execution, "FAILED", time.time() - 120)
    ).payload

    assert answer == {"released": [{"prefix": "batch", "holder": holder_key(execution)}], "deferred": []}
    assert holders_in_table(dynamodb, "batch") == {}


@pytest.mark.parametrize(
    "detail", [{}, {"executionArn": 5, "status": "FAILED"}, {"executionArn": "arn", "status": "SUCCEEDED"}]
)
def test_a_malformed_or_unrelated_event_is_ignored_without_an_error(
    lease_app_client: Any, dynamodb: Any, detail: Any
) -> None:
    leases(dynamodb, "batch").acquire("arn")
    before = table_items(dynamodb)
    event = lease_app_client.events.generate_cw_event(
        "aws.states", "Step Functions Execution Status Change", detail, []
    )

    assert lease_app_client.lambda_.invoke("reclaim", event).payload == {"released": [], "deferred": []}
    assert set(holders_in_table(dynamodb, "batch")) == keys_of("arn")
    assert table_items(dynamodb) == before  # not even a record of a stopped run for the sweeper


def test_the_sweeper_settles_again_the_recorded_runs_and_leaves_every_other_holder_alone(
    lease_app_client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    running = start(stepfunctions, state_machine, "running")
    aborted = start(stepfunctions, state_machine, "aborted")
    failed = start(stepfunctions, state_machine, "failed")
    stopped_unannounced = start(stepfunctions, state_machine, "stopped-without-an-event")
    stepfunctions.stop_execution(executionArn=stopped_unannounced)  # its failure event never arrives
    other_region = running.replace(REGION, "us-east-1")
    batch = leases(dynamodb, "batch")
    batch.set_cap(10)
    batch.configure_timings(task_seconds=130, lease_seconds=600)
    stopped = int(time.time())
    lease_app_client.lambda_.invoke("reclaim", status_change(lease_app_client, aborted, "ABORTED", stopped))
    lease_app_client.lambda_.invoke("reclaim", status_change(lease_app_client, failed, "FAILED", stopped))
    # Acquires that were in flight land after the failure events; the other holders never stopped (as recorded).
    for holder in (running, aborted + "/4", failed, stopped_unannounced, other_region, "not-an-arn"):
        batch.acquire(holder)

    report = sweep(lease_app_client)
    again = sweep(lease_app_client)

    assert report == {"expired": 0, "execution_ended": 1, "deferred": 1, "dequeued": 0, "handed_over": 0}
    assert again == {"expired": 0, "execution_ended": 0, "deferred": 0, "dequeued": 0, "handed_over": 0}
    remaining = holders_in_table(dynamodb, "batch")
    assert set(remaining) == keys_of(running, aborted + "/4", stopped_unannounced, other_region, "not-an-arn")
    assert remaining[holder_key(aborted + "/4")] == stopped + 130  # its Process may still run for up to 130 s


def test_the_sweeper_reclaims_expired_holders_of_every_prefix(lease_app_client: Any, dynamodb: Any) -> None:
    long_ago = time.time() - 3600
    leases(dynamodb, "analytics", clock=long_ago).acquire("expired-a")
    leases(dynamodb, "batch", clock=long_ago).acquire("expired-b")
    leases(dynamodb, "batch").acquire("live")

    report = sweep(lease_app_client)

    assert report["expired"] == 2
    assert holders_in_table(dynamodb, "analytics") == {}
    assert set(holders_in_table(dynamodb, "batch")) == keys_of("live")


def test_a_late_acquire_after_the_failure_event_is_freed_by_the_next_sweep(
    lease_app_client: Any, dynamodb: Any
) -> None:
    execution = execution_arn("batch", "failed-while-acquiring")
    batch = leases(dynamodb, "batch")
    batch.acquire(execution)
    stopped = time.time() + 1
    lease_app_client.lambda_.invoke("reclaim", status_change(lease_app_client, execution, "FAILED", stopped))
    assert holders_in_table(dynamodb, "batch") == {}

    late = leases(dynamodb, "batch", clock=stopped + 2)  # an acquire that was in flight lands afterwards
    late.acquire(execution)
    assert set(holders_in_table(dynamodb, "batch")) == keys_of(execution)

    report = sweep(lease_app_client)

    assert report["execution_ended"] == 1
    assert holders_in_table(dynamodb, "batch") == {}


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT"])
def test_a_late_acquire_after_an_aborted_event_is_deferred_by_the_next_sweep_and_reclaimed_when_its_task_ended(
    lease_app_client: Any, dynamodb: Any, status: str
) -> None:
    execution = execution_arn("batch", "aborted-while-acquiring")
    batch = leases(dynamodb, "batch")
    batch.set_cap(10)
    batch.configure_timings(task_seconds=130, lease_seconds=600)
    stopped = int(time.time())
    lease_app_client.lambda_.invoke("reclaim", status_change(lease_app_client, execution, status, stopped))
    batch.acquire(execution)  # in flight when the run stopped: a task it starts may run up to 130 s

    report = sweep(lease_app_client)

    assert report["deferred"] == 1 and report["execution_ended"] == 0
    assert holders_in_table(dynamodb, "batch") == {holder_key(execution): stopped + 130}
    assert sweeper_at(dynamodb, stopped + 129).sweep().expired == []
    reclaimed = sweeper_at(dynamodb, stopped + 130).sweep().expired
    assert [(item.prefix, item.holder) for item in reclaimed] == [("batch", holder_key(execution))]
    assert holders_in_table(dynamodb, "batch") == {}


def test_a_run_whose_failure_event_never_arrived_keeps_its_lease_until_it_expires_then_the_sweeper_reclaims_it(
    dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    execution = start(stepfunctions, state_machine, "event-lost")
    stepfunctions.stop_execution(executionArn=execution)  # Step Functions knows; the table is never told
    now = time.time()
    expires = leases(dynamodb, "batch", clock=now).acquire(execution).expires_at

    kept = sweeper_at(dynamodb, expires - 1).sweep()
    reclaimed = sweeper_at(dynamodb, expires).sweep()

    assert (kept.expired, kept.execution_ended) == ([], [])
    assert [item.holder for item in reclaimed.expired] == [holder_key(execution)]
    assert holders_in_table(dynamodb, "batch") == {}


@pytest.mark.parametrize(("seconds_later", "released"), [(RESETTLE_SECONDS - 1, True), (RESETTLE_SECONDS, False)])
def test_a_stopped_run_is_settled_again_for_resettle_seconds_after_its_event_and_not_after(
    dynamodb: Any, seconds_later: int, released: bool
) -> None:
    execution = execution_arn("batch", "failed-long-ago")
    recorded_at = int(time.time())
    record(
        LeaseTable(dynamodb, DEFAULT_TABLE_NAME).table, EndedRun(execution, 0, "FAILED", recorded_at), now=recorded_at
    )
    leases(dynamodb, "batch", clock=recorded_at + seconds_later - 10, ttl=3600).acquire(execution)  # a late acquire

    report = sweeper_at(dynamodb, recorded_at + seconds_later).sweep()

    assert [(item.holder, item.action) for item in report.execution_ended] == (
        [(holder_key(execution), "released")] if released else []
    )
    assert set(holders_in_table(dynamodb, "batch")) == (set() if released else keys_of(execution))
