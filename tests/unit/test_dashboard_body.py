"""The dashboard graphs exactly the metrics the lease Lambdas emit, with the dimensions they emit them with."""

from __future__ import annotations

import json
import re

import pytest

from lease_core import observability
from lease_ops.config.platform_config import load_platform_config
from lease_ops.provisioning.dashboard import DIMENSION_SETS, dashboard_body, search
from tests.helpers import REGION

EMITTED = {
    value
    for name, value in vars(observability).items()
    if name.isupper() and isinstance(value, str) and value.startswith("Lease")
}


def searched(body: dict) -> set[tuple[str, tuple[str, ...]]]:  # type: ignore[type-arg]
    """(metric, dimensions) of every SEARCH expression on the dashboard."""
    found = set()
    for widget in body["widgets"]:
        for (line,) in widget.get("properties", {}).get("metrics", []):
            match = re.fullmatch(r"SEARCH\('\{(.*?)\} MetricName=\"(\w+)\" .*", line["expression"])
            assert match, line["expression"]
            namespace, *dimensions = match[1].split(",")
            assert namespace == observability.NAMESPACE
            found.add((match[2], tuple(dimensions)))
    return found


def test_every_metric_the_lambdas_emit_is_graphed_and_nothing_else() -> None:
    body = dashboard_body(load_platform_config())

    assert {metric for metric, _ in searched(body)} == EMITTED == set(DIMENSION_SETS)


@pytest.mark.parametrize(
    ("metric", "dimensions"), [(m, d) for m, sets in DIMENSION_SETS.items() for d in sets], ids=str
)
def test_each_search_names_the_dimension_set_powertools_writes_for_that_metric(
    metric: str, dimensions: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    capsys.readouterr()

    observability.record_metric(metric, **dict.fromkeys(dimensions, "x"))

    (directive,) = json.loads(capsys.readouterr().out)["_aws"]["CloudWatchMetrics"]
    schema = re.search(r"\{(.*?)\}", search(metric, dimensions))
    assert schema is not None
    assert sorted(directive["Dimensions"][0]) == sorted(schema[1].split(",")[1:])


def test_the_dashboard_is_one_per_platform_and_stage() -> None:
    config = load_platform_config()

    assert config.dashboard_name() == "shared-lease-platform-dev-leases"
    assert f"(dev, {REGION})" in dashboard_body(config)["widgets"][0]["properties"]["markdown"]
