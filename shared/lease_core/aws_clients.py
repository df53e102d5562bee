"""Lazily created, cached boto3 clients for the Lambda runtime.

Nothing is created at import: the first invocation builds the client (honouring
``AWS_ENDPOINT_URL`` and the region of the environment it runs in) and later
invocations of the same warm container reuse it. Timeouts are short and
retries bounded so that a DynamoDB outage surfaces as ``LeaseStoreUnavailable``
well within the Lambda timeout, for Step Functions to retry.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError

from lease_core.errors import InvalidLeaseRequest

CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 4},
    max_pool_connections=32,  # one warm container is single-threaded; the local runner shares the client
)

_clients: dict[tuple[str, str | None, str | None], Any] = {}
_lock = threading.Lock()


def client_for(service: str, environment: Mapping[str, str]) -> Any:
    """A cached low-level client for ``service`` in the environment's region and endpoint."""
    region = environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION")
    endpoint = environment.get("AWS_ENDPOINT_URL") or None
    key = (service, region, endpoint)
    with _lock:
        client = _clients.get(key)
        if client is None:
            try:
                client = boto3.session.Session().client(
                    service, region_name=region, endpoint_url=endpoint, config=CLIENT_CONFIG
                )
            except NoRegionError as exc:
                raise InvalidLeaseRequest("no AWS region configured: set AWS_REGION") from exc
            _clients[key] = client
        return client
