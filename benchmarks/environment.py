"""The one moto server every design runs against, with capacity metering and request counting."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from benchmarks.capacity import CapacityMeter
from lease_core.aws_clients import CLIENT_CONFIG
from lease_ops.sandbox.embedded_aws import embedded_aws
from lease_ops.sandbox.embedded_platform import quiet_lambda_telemetry

REGION = "eu-central-1"


class RequestCounter:
    """Counts the HTTP requests each client sends (retries included), by client label."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any, label: str) -> Any:
        def count(**_: Any) -> None:
            with self._lock:
                self.counts[label] += 1

        client.meta.events.register("before-send.dynamodb", count)
        return client


@dataclass
class BenchEnvironment:
    endpoint: str
    meter: CapacityMeter
    requests: RequestCounter

    def client(self, label: str, pool: int = 128, *, read_timeout: float | None = None) -> Any:
        """A DynamoDB client of the embedded server, its requests counted under ``label``.

        ``read_timeout``: for a request moto itself is slow to answer (it scans the whole table for a
        Query), with no retry, so that moto's slowness is not billed twice.
        """
        config = CLIENT_CONFIG.merge(Config(max_pool_connections=pool))
        if read_timeout is not None:
            config = config.merge(Config(read_timeout=read_timeout, retries={"max_attempts": 1, "mode": "standard"}))
        client = boto3.session.Session().client(
            "dynamodb", region_name=REGION, endpoint_url=self.endpoint, config=config
        )
        return self.requests.attach(client, label)


@contextmanager
def bench_environment() -> Iterator[BenchEnvironment]:
    meter = CapacityMeter()
    with embedded_aws(REGION) as endpoint, meter.installed(), quiet_lambda_telemetry(logging.ERROR):
        yield BenchEnvironment(endpoint, meter, RequestCounter())
