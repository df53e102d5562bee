"""Every lease event is a CloudWatch metric (EMF) with its prefix, and a structured log line."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import pytest
from chalice.test import Client

from lease_core import LeaseLost, LeaseStoreUnavailable
from lease_core.settings import invocation_environment
from lease_ops.config.chalice_apps import app_folder
from tests.helpers import REGION, chalice_client


@pytest.fixture
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")


def emitted(capsys: pytest.CaptureFixture[str]) -> list[tuple[str, dict[str, str]]]:
    """(metric name, dimensions) of every EMF line printed since the last call."""
    found = []
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        blob = json.loads(line)
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "SharedLeasePlatform"
        dimensions = {name: blob[name] for name in directive["Dimensions"][0] if name != "service"}
        found += [(metric["Name"], dimensions) for metric in directive["Metrics"]]
    return found


def test_each_lease_lambda_outcome_is_a_metric_with_the_prefix_dimension(
    batch_client: Client, metrics_on: None, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    for n in range(5):
        batch_client.lambda_.invoke("acquire", {"holder": f"run-{n}"})
    batch_client.lambda_.invoke("acquire", {"holder": "late"})
    batch_client.lambda_.invoke("renew", {"holder": "run-0"})
    batch_client.lambda_.invoke("release", {"holder": "run-0"})
    batch_client.lambda_.invoke("release", {"holder": "run-0"})
    with pytest.raises(LeaseLost):
        batch_client.lambda_.invoke("renew", {"holder": "run-0"})

    prefix = {"prefix": "batch"}
    assert emitted(capsys) == [
        *[("LeaseAcquired", prefix)] * 5,
        ("LeaseWaited", prefix),
        ("LeaseRenewed", prefix),
        ("LeaseReleased", prefix),
        ("LeaseReleaseNotHeld", prefix),
        ("LeaseLost", prefix),
    ]


def test_handoff_counts_queued_executions_slots_handed_over_and_gone_waiters_skipped(
    batch_client: Client, metrics_on: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from lease_ops.local_runner.task_tokens import TASK_TOKENS, route_moto_callbacks

    route_moto_callbacks()
    config = json.loads((app_folder("batch_app") / ".chalice" / "config.json").read_text())
    environment = {**config["stages"]["dev"]["environment_variables"], "LEASE_WAIT_MODE": "handoff"}
    environment["AWS_REGION"] = REGION
    tokens = {holder: TASK_TOKENS.issue() for holder in [*(f"run-{n}" for n in range(5)), "gone", "next"]}
    capsys.readouterr()

    with invocation_environment(environment):
        for holder, token in tokens.items():
            batch_client.lambda_.invoke("acquire", {"holder": holder, "task_token": token})
        TASK_TOKENS.close(tokens["gone"])  # its execution ended while it waited
        batch_client.lambda_.invoke("release", {"holder": "run-0"})

    prefix = {"prefix": "batch"}
    assert emitted(capsys) == [
        *[("LeaseAcquired", prefix)] * 5,
        ("LeaseQueued", prefix),
        ("LeaseQueued", prefix),
        ("LeaseHandoffSkipped", prefix),
        ("LeaseHandedOver", prefix),
        ("LeaseReleased", prefix),
    ]
    assert TASK_TOKENS.pending(tokens["next"]).done.is_set()


def test_a_store_error_is_counted_with_its_operation(
    batch_client: Client, metrics_on: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = json.loads((app_folder("batch_app") / ".chalice" / "config.json").read_text())
    environment = {**config["stages"]["dev"]["environment_variables"], "LEASE_TABLE_NAME": "missing-table"}
    environment["AWS_REGION"] = REGION
    capsys.readouterr()

    with invocation_environment(environment), pytest.raises(LeaseStoreUnavailable):
        batch_client.lambda_.invoke("acquire", {"holder": "run-1"})

    assert emitted(capsys) == [("LeaseStoreError", {"prefix": "batch", "operation": "acquire"})]


def test_reclaims_are_counted_by_reason(
    dynamodb: Any, lease_app: Any, batch_client: Client, metrics_on: None, capsys: pytest.CaptureFixture[str]
) -> None:
    batch_client.lambda_.invoke("acquire", {"holder": "forced-out"})
    with chalice_client(lease_app, "lease_app") as platform:
        capsys.readouterr()
        platform.http.delete(f"/prefixes/batch/holders/{quote('forced-out', safe='')}")

    assert emitted(capsys) == [("LeaseReclaimed", {"prefix": "batch", "reason": "forced"})]


def test_lease_lambdas_log_one_structured_line_per_outcome(
    batch_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="shared-lease-platform"):
        batch_client.lambda_.invoke("acquire", {"holder": "run-1"})

    (record,) = [r for r in caplog.records if r.name == "shared-lease-platform"]
    assert record.getMessage() == "lease acquired"
    assert (record.prefix, record.holder, record.operation) == ("batch", "run-1", "acquire")  # type: ignore[attr-defined]
