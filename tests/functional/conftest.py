"""Fixtures of the functional tier: Step Functions on moto, and Chalice's test client of each app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from tests.helpers import aws_client, chalice_client, stand_in_role


@pytest.fixture
def stepfunctions(dynamodb: Any) -> Any:
    return aws_client("stepfunctions")


@pytest.fixture
def state_machine(stepfunctions: Any) -> str:
    role = stand_in_role(aws_client("iam"), "sfn")
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    return stepfunctions.create_state_machine(name="wf", definition=json.dumps(definition), roleArn=role)[
        "stateMachineArn"
    ]


@pytest.fixture
def analytics_client(dynamodb: Any, analytics_app: Any) -> Iterator[Client]:
    """The analytics app's Lambdas, invoked in-process against the in-process moto of ``dynamodb``."""
    with chalice_client(analytics_app, "analytics_app") as client:
        yield client


@pytest.fixture
def batch_client(dynamodb: Any, batch_app: Any) -> Iterator[Client]:
    """The batch app's Lambdas, invoked in-process against the in-process moto of ``dynamodb``."""
    with chalice_client(batch_app, "batch_app") as client:
        yield client


@pytest.fixture
def lease_app_client(dynamodb: Any, lease_app: Any) -> Iterator[Client]:
    """The platform app's Lambdas and REST API, in-process against the in-process moto of ``dynamodb``."""
    with chalice_client(lease_app, "lease_app") as client:
        yield client


@pytest.fixture
def lease_api(lease_app_client: Client) -> Any:
    """The platform app's REST API (``lease_api.get("/prefixes")``)."""
    return lease_app_client.http
