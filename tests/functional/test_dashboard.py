"""`make dashboard` against moto: PutDashboard of the lease metrics, idempotent, and removed by destroy."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lease_core import observability
from lease_ops.config.platform_config import PLATFORM_FILE
from tests.helpers import REGION, aws_client
from tests.ops import run_ops

NAME = "shared-lease-platform-dev-leases"


@pytest.fixture
def cloudwatch(dynamodb: Any) -> Iterator[Any]:
    """CloudWatch on the same in-process moto as the lease table."""
    yield aws_client("cloudwatch")


def dashboards(cloudwatch: Any) -> list[str]:
    return [entry["DashboardName"] for entry in cloudwatch.list_dashboards()["DashboardEntries"]]


def graphed_metrics(body: dict[str, Any]) -> set[str]:
    expressions = [
        line["expression"] for widget in body["widgets"] for (line,) in widget.get("properties", {}).get("metrics", [])
    ]
    return {name for expression in expressions for name in re.findall(r'MetricName="(\w+)"', expression)}


def test_dashboard_puts_a_dashboard_of_every_lease_metric_named_for_platform_and_stage(
    cloudwatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_ops(capsys, PLATFORM_FILE, "dashboard")

    assert outcome.exit_code == 0, outcome.err
    assert f"done     create dashboard {NAME}" in outcome.out
    body = json.loads(cloudwatch.get_dashboard(DashboardName=NAME)["DashboardBody"])
    assert graphed_metrics(body) == {
        observability.ACQUIRED,
        observability.WAITED,
        observability.RELEASED,
        observability.RELEASE_NOT_HELD,
        observability.RENEWED,
        observability.LOST,
        observability.RECLAIMED,
        observability.STORE_ERROR,
        observability.CAP_CHANGED,
        observability.QUEUED,
        observability.HANDED_OVER,
        observability.HANDOFF_SKIPPED,
    }
    assert {widget["properties"].get("region") for widget in body["widgets"][1:]} == {REGION}


def test_dashboard_again_changes_nothing(cloudwatch: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run_ops(capsys, PLATFORM_FILE, "dashboard")

    again = run_ops(capsys, PLATFORM_FILE, "dashboard")

    assert again.exit_code == 0
    assert f"ok       dashboard {NAME} is as wanted" in again.out and "done" not in again.out


def test_dashboard_dry_run_prints_the_body_and_puts_nothing(
    cloudwatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_ops(capsys, PLATFORM_FILE, "dashboard", "--dry-run", "--stage", "prod")

    assert outcome.exit_code == 0, outcome.err
    body = json.loads(outcome.out[: outcome.out.index("\ndashboard ") + 1])
    assert graphed_metrics(body) >= {observability.ACQUIRED, observability.HANDED_OVER}
    assert "would    create dashboard shared-lease-platform-prod-leases" in outcome.out
    assert dashboards(cloudwatch) == []


def test_destroy_removes_the_dashboard_and_a_second_destroy_finds_it_gone(
    cloudwatch: Any, capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    run_ops(capsys, project, "dashboard")
    cloudwatch.put_dashboard(DashboardName="someone-elses", DashboardBody='{"widgets": []}')

    destroyed = run_ops(capsys, project, "destroy")
    again = run_ops(capsys, project, "destroy")

    assert destroyed.exit_code == 0, destroyed.err
    assert f"done     delete dashboard {NAME}" in destroyed.out
    assert dashboards(cloudwatch) == ["someone-elses"]
    assert again.exit_code == 0, again.err
    assert f"ok       dashboard {NAME} is gone" in again.out
