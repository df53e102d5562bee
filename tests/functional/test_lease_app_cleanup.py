"""Reclaim on execution failure and the sweeper, against moto DynamoDB and Step Functions executions."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from chalice.test import Client

from lease_core import LeaseSemaphore
from lease_core.cleanup_functions import EXECUTION_ENDED
from lease_core.settings import invocation_environment
from lease_ops.chalice_apps import app_folder
from lease_ops.table import DEFAULT_TABLE_NAME
from tests.helpers import holders_in_table, start, status_change, sweep

REGION = "eu-central-1"


@pytest.fixture
def client(dynamodb: Any, lease_app: Any) -> Any:
    with Client(lease_app, stage_name="dev", project_dir=str(app_folder("lease_app"))) as chalice_client:
        yield chalice_client


def leases(dynamodb: Any, prefix: str, *, clock: float | None = None, ttl: int = 600) -> LeaseSemaphore:
    options: dict[str, Any] = {} if clock is None else {"clock": lambda: clock}
    return LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, prefix, ttl_seconds=ttl, initial_cap=10, **options)


def test_the_reclaim_rule_matches_failed_timed_out_and_aborted_executions_only() -> None:
    assert EXECUTION_ENDED == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"]},
    }


def test_a_failed_execution_gives_back_every_lease_it_held_in_every_prefix(
    client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    dead = start(stepfunctions, state_machine, "dead")
    alive = start(stepfunctions, state_machine, "alive")
    leases(dynamodb, "analytics").acquire(dead)
    leases(dynamodb, "batch").acquire(dead + "/0")
    leases(dynamodb, "batch").acquire(dead + "/1")
    leases(dynamodb, "batch").acquire(alive)
    leases(dynamodb, "batch").acquire(dead + "-lookalike")

    answer = client.lambda_.invoke("reclaim", status_change(client, dead, "FAILED", time.time() + 1)).payload

    assert sorted((r["prefix"], r["holder"]) for r in answer["released"]) == [
        ("analytics", dead),
        ("batch", dead + "/0"),
        ("batch", dead + "/1"),
    ]
    assert holders_in_table(dynamodb, "analytics") == {}
    assert set(holders_in_table(dynamodb, "batch")) == {alive, dead + "-lookalike"}


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT"])
def test_an_aborted_execution_keeps_its_lease_only_until_a_task_it_started_must_have_ended(
    client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str, status: str
) -> None:
    execution = start(stepfunctions, state_machine, "aborted")
    batch = leases(dynamodb, "batch")
    batch.acquire(execution)
    batch.configure_timings(task_seconds=130, lease_seconds=600)
    stopped = int(time.time()) + 1

    answer = client.lambda_.invoke("reclaim", status_change(client, execution, status, stopped)).payload

    assert answer == {"released": [], "deferred": [{"prefix": "batch", "holder": execution, "until": stopped + 130}]}
    assert holders_in_table(dynamodb, "batch") == {execution: stopped + 130}


def test_an_execution_aborted_longer_ago_than_its_task_timeout_is_released_at_once(
    client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    execution = start(stepfunctions, state_machine, "aborted-long-ago")
    batch = leases(dynamodb, "batch", clock=time.time() - 600)
    batch.acquire(execution)
    batch.configure_timings(task_seconds=130, lease_seconds=600)

    answer = client.lambda_.invoke("reclaim", status_change(client, execution, "ABORTED", time.time() - 300)).payload

    assert answer["released"] == [{"prefix": "batch", "holder": execution}]
    assert holders_in_table(dynamodb, "batch") == {}


def test_without_a_task_timeout_an_aborted_executions_lease_keeps_its_own_expiry(
    client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    execution = start(stepfunctions, state_machine, "aborted")
    expires = leases(dynamodb, "batch").acquire(execution).expires_at

    answer = client.lambda_.invoke("reclaim", status_change(client, execution, "ABORTED", time.time() + 1)).payload

    assert answer["deferred"] == [{"prefix": "batch", "holder": execution, "until": expires}]
    assert holders_in_table(dynamodb, "batch") == {execution: expires}


def test_a_lease_taken_after_the_execution_stopped_is_left_to_the_sweeper(
    client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str
) -> None:
    execution = start(stepfunctions, state_machine, "redriven")
    leases(dynamodb, "batch").acquire(execution)

    answer = client.lambda_.invoke("reclaim", status_change(client, execution, "FAILED", time.time() - 120)).payload

    assert answer == {"released": [], "deferred": []}
    assert set(holders_in_table(dynamodb, "batch")) == {execution}


@pytest.mark.parametrize(
    "detail", [{}, {"executionArn": 5, "status": "FAILED"}, {"executionArn": "arn", "status": "SUCCEEDED"}]
)
def test_a_malformed_or_unrelated_event_is_ignored_without_an_error(client: Any, dynamodb: Any, detail: Any) -> None:
    leases(dynamodb, "batch").acquire("arn")
    event = client.events.generate_cw_event("aws.states", "Step Functions Execution Status Change", detail, [])

    assert client.lambda_.invoke("reclaim", event).payload == {"released": [], "deferred": []}
    assert set(holders_in_table(dynamodb, "batch")) == {"arn"}


def test_the_sweeper_settles_holders_of_executions_that_stopped_and_keeps_running_ones(
    client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = start(stepfunctions, state_machine, "running")
    aborted = start(stepfunctions, state_machine, "aborted")
    monkeypatch.setenv("SF_EXECUTION_HISTORY_TYPE", "FAILURE")  # moto then starts executions as FAILED
    failed = start(stepfunctions, state_machine, "failed")
    monkeypatch.delenv("SF_EXECUTION_HISTORY_TYPE")
    never_started = state_machine.replace(":stateMachine:", ":execution:") + ":never-started"
    other_region = running.replace(REGION, "us-east-1")
    batch = leases(dynamodb, "batch", clock=time.time() - 5)
    for holder in (running, aborted + "/4", failed, never_started, other_region, "not-an-arn"):
        batch.acquire(holder)
    batch.configure_timings(task_seconds=130, lease_seconds=600)
    stepfunctions.stop_execution(executionArn=aborted)

    report = sweep(client)

    assert report == {
        "expired": 0,
        "execution_ended": 2,
        "deferred": 1,
        "dequeued": 0,
        "handed_over": 0,
        "not_judged": 1,
    }
    remaining = holders_in_table(dynamodb, "batch")
    assert set(remaining) == {running, aborted + "/4", other_region, "not-an-arn"}
    assert remaining[aborted + "/4"] <= time.time() + 131  # its Process may still run for up to 130 s


def test_the_sweeper_reclaims_expired_holders_of_every_prefix(client: Any, dynamodb: Any) -> None:
    long_ago = time.time() - 3600
    leases(dynamodb, "analytics", clock=long_ago).acquire("expired-a")
    leases(dynamodb, "batch", clock=long_ago).acquire("expired-b")
    leases(dynamodb, "batch").acquire("live")

    report = sweep(client)

    assert report["expired"] == 2
    assert holders_in_table(dynamodb, "analytics") == {}
    assert set(holders_in_table(dynamodb, "batch")) == {"live"}


def test_a_late_acquire_after_the_failure_event_is_freed_by_the_next_sweep(
    client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SF_EXECUTION_HISTORY_TYPE", "FAILURE")  # moto then starts executions as FAILED
    execution = start(stepfunctions, state_machine, "failed-while-acquiring")
    monkeypatch.delenv("SF_EXECUTION_HISTORY_TYPE")
    batch = leases(dynamodb, "batch")
    batch.acquire(execution)
    stopped = time.time() + 1
    client.lambda_.invoke("reclaim", status_change(client, execution, "FAILED", stopped))
    assert holders_in_table(dynamodb, "batch") == {}

    late = leases(dynamodb, "batch", clock=stopped + 2)  # an acquire that was in flight lands afterwards
    late.acquire(execution)
    assert set(holders_in_table(dynamodb, "batch")) == {execution}

    report = sweep(client)

    assert report["execution_ended"] == 1
    assert holders_in_table(dynamodb, "batch") == {}


def test_the_sweeper_leaves_holders_younger_than_the_threshold(
    client: Any, dynamodb: Any, stepfunctions: Any, state_machine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    execution = start(stepfunctions, state_machine, "young")
    stepfunctions.stop_execution(executionArn=execution)
    leases(dynamodb, "batch").acquire(execution)
    config = json.loads((app_folder("lease_app") / ".chalice" / "config.json").read_text())
    environment = {**config["stages"]["dev"]["environment_variables"], "RECONCILE_MIN_AGE_SECONDS": "300"}
    environment["AWS_REGION"] = REGION

    with invocation_environment(environment):
        report = sweep(client)

    assert report["execution_ended"] == 0
    assert set(holders_in_table(dynamodb, "batch")) == {execution}
