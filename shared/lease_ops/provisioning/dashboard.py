"""`make dashboard`: a CloudWatch dashboard of the metrics the lease Lambdas already emit, one per stage.

Built only from what ``lease_core.observability`` writes (Embedded Metric Format, namespace
``SharedLeasePlatform``): each metric with the dimension sets its callers give it, plus ``service``,
which Powertools adds to every one. The graphs use SEARCH expressions
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-search-expressions.html) rather
than one line per prefix, so a prefix that starts emitting later appears without rerunning this, and
label each line with its prefix (dynamic labels,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/graph-dynamic-labels.html).

The metrics carry no stage or table dimension, so two stages sharing a region and a prefix add up on
each other's dashboards; the text widget says so. What is held and queued right now is not a metric
at all: `make watch` reads it from the table.

PutDashboard replaces the whole body (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html),
so rerunning is safe; the plan says ``ok`` when the body in CloudWatch is already this one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lease_core import observability
from lease_ops.aws.aws_target import AwsTarget, aws_errors, error_code
from lease_ops.aws.plan import Plan
from lease_ops.config.platform_config import PlatformConfig
from lease_ops.errors import AwsCallFailed

PERIOD_SECONDS = 60
SERVICE_DIMENSION = "service"  # added by Powertools to every metric, valued observability.SERVICE
# The dimension sets each metric is emitted with (besides ``service``): see the callers of record_metric.
DIMENSION_SETS: dict[str, tuple[tuple[str, ...], ...]] = {
    observability.ACQUIRED: (("prefix",),),
    observability.HANDED_OVER: (("prefix",),),
    observability.WAITED: (("prefix",),),
    observability.QUEUED: (("prefix",),),
    observability.RELEASED: (("prefix",),),
    observability.RELEASE_NOT_HELD: (("prefix",),),
    observability.RENEWED: (("prefix",),),
    observability.LOST: (("prefix",),),
    observability.RECLAIMED: (("prefix", "reason"),),
    observability.STORE_ERROR: (("prefix", "operation"), ("operation",)),
    observability.CAP_CHANGED: (("prefix",),),
    observability.HANDOFF_SKIPPED: (("prefix",),),
}


@dataclass(frozen=True)
class Graph:
    title: str
    metrics: tuple[str, ...]


GRAPHS = (
    Graph(
        "Admissions per minute (acquired; handed over to a waiter)", (observability.ACQUIRED, observability.HANDED_OVER)
    ),
    Graph("Waiting per minute (poll: told to wait; handoff: queued)", (observability.WAITED, observability.QUEUED)),
    Graph("Releases per minute", (observability.RELEASED, observability.RELEASE_NOT_HELD)),
    Graph("Renewals and lost leases per minute", (observability.RENEWED, observability.LOST)),
    Graph("Leases reclaimed per minute, by reason", (observability.RECLAIMED,)),
    Graph("DynamoDB errors per minute (LeaseStoreUnavailable), by operation", (observability.STORE_ERROR,)),
    Graph(
        "Cap changes and hand-overs skipped (waiter gone)", (observability.CAP_CHANGED, observability.HANDOFF_SKIPPED)
    ),
)


def search(metric: str, dimensions: tuple[str, ...]) -> str:
    """Every series of ``metric`` emitted with exactly these dimensions (and ``service``), summed per minute."""
    schema = ",".join((observability.NAMESPACE, *dimensions, SERVICE_DIMENSION))
    query = f'{{{schema}}} MetricName="{metric}" {SERVICE_DIMENSION}="{observability.SERVICE}"'
    return f"SEARCH('{query}', 'Sum', {PERIOD_SECONDS})"


def _label(metric: str, dimensions: tuple[str, ...]) -> str:
    shown = " ".join(f"${{PROP('Dim.{name}')}}" for name in dimensions)
    return f"{shown} {metric}"


def _graph(graph: Graph, region: str, x: int, y: int) -> dict[str, Any]:
    lines = [
        [{"expression": search(metric, dimensions), "id": f"m{n}{k}", "label": _label(metric, dimensions)}]
        for n, metric in enumerate(graph.metrics)
        for k, dimensions in enumerate(DIMENSION_SETS[metric])
    ]
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": graph.title,
            "region": region,
            "view": "timeSeries",
            "stacked": False,
            "period": PERIOD_SECONDS,
            "stat": "Sum",
            "metrics": lines,
            "yAxis": {"left": {"min": 0, "showUnits": False}},
        },
    }


def dashboard_body(config: PlatformConfig) -> dict[str, Any]:
    """The dashboard: a note on what it shows, then two graphs a row."""
    note = (
        f"## Leases of {config.platform} ({config.stage}, {config.region})\n"
        f"Counts per minute of the lease Lambdas' metrics (namespace `{observability.NAMESPACE}`), one line per "
        "prefix. They carry no stage or table dimension: another stage using the same prefixes in this region "
        f"adds to these lines. Holders, queue and oldest lease right now, from table `{config.table}`: "
        "`make watch`."
    )
    widgets: list[dict[str, Any]] = [
        {"type": "text", "x": 0, "y": 0, "width": 24, "height": 2, "properties": {"markdown": note}}
    ]
    for n, graph in enumerate(GRAPHS):
        widgets.append(_graph(graph, config.region, x=12 * (n % 2), y=2 + 6 * (n // 2)))
    return {"start": "-PT3H", "periodOverride": "inherit", "widgets": widgets}


def _current_body(cloudwatch: Any, name: str) -> dict[str, Any] | None:
    with aws_errors(f"reading dashboard {name}"):
        try:
            return dict(json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"]))
        except ClientError as exc:
            if error_code(exc) in {"ResourceNotFound", "ResourceNotFoundException"}:
                return None
            raise


def plan_dashboard(target: AwsTarget, config: PlatformConfig) -> Plan:
    """Create or update the dashboard (PutDashboard), or nothing if CloudWatch has this body already."""
    name = config.dashboard_name()
    cloudwatch = target.client("cloudwatch")
    body = dashboard_body(config)
    plan = Plan(f"dashboard {name}")
    current = _current_body(cloudwatch, name)
    if current == body:
        plan.unchanged(f"dashboard {name} is as wanted ({len(GRAPHS)} graphs)")
        return plan

    def put() -> None:
        with aws_errors(f"putting dashboard {name}"):
            answer = cloudwatch.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))
        problems = answer.get("DashboardValidationMessages") or []
        if problems:  # stored all the same, but something in it will not show: a bug here, worth a failure
            shown = "; ".join(f"{p.get('DataPath', '')}: {p.get('Message', '')}" for p in problems)
            raise AwsCallFailed(f"CloudWatch stored dashboard {name} but found problems in it: {shown}")

    verb = "create" if current is None else "update"
    plan.change(f"{verb} dashboard {name} ({len(GRAPHS)} graphs of the lease metrics, {config.region})", put)
    return plan


def plan_dashboard_removal(target: AwsTarget, config: PlatformConfig) -> Plan:
    """Delete the dashboard (DeleteDashboards); nothing if it is gone already."""
    name = config.dashboard_name()
    cloudwatch = target.client("cloudwatch")
    plan = Plan(f"dashboard {name}")
    if _current_body(cloudwatch, name) is None:
        plan.unchanged(f"dashboard {name} is gone")
        return plan

    def delete() -> None:
        with aws_errors(f"deleting dashboard {name}"):
            try:
                cloudwatch.delete_dashboards(DashboardNames=[name])
            except ClientError as exc:
                if error_code(exc) not in {"ResourceNotFound", "ResourceNotFoundException"}:
                    raise  # gone meanwhile is what was wanted

    plan.change(f"delete dashboard {name}", delete)
    return plan
