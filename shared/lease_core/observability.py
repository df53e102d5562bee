"""Structured logs and CloudWatch metrics (Embedded Metric Format) of every lease Lambda.

Powertools writes both as JSON lines to the Lambda log; CloudWatch turns the EMF
lines into metrics in the ``SharedLeasePlatform`` namespace, one dimension set per
event (``prefix``, and ``reason`` for reclaims). Each metric is its own
EphemeralMetrics instance, flushed at once, so concurrent invocations in one
process (the local runner) never mix their metrics.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

NAMESPACE = "SharedLeasePlatform"
SERVICE = "shared-lease-platform"

# Metric names, documented in docs/observability.md.
ACQUIRED = "LeaseAcquired"
WAITED = "LeaseWaited"
RELEASED = "LeaseReleased"
RELEASE_NOT_HELD = "LeaseReleaseNotHeld"
RENEWED = "LeaseRenewed"
LOST = "LeaseLost"
RECLAIMED = "LeaseReclaimed"
STORE_ERROR = "LeaseStoreError"
CAP_CHANGED = "LeaseCapChanged"
QUEUED = "LeaseQueued"
HANDED_OVER = "LeaseHandedOver"
HANDOFF_SKIPPED = "LeaseHandoffSkipped"

logger = Logger(service=SERVICE)


def record_metric(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit one metric with its dimensions now."""
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    for dimension, dimension_value in dimensions.items():
        metrics.add_dimension(name=dimension, value=dimension_value)
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.flush_metrics()
