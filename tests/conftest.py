"""Fixtures shared by both tiers: fake credentials, moto, the apps and the shared table."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from lease_core import aws_clients
from lease_ops.config.chalice_apps import app_folder, load_chalice_app
from lease_ops.local_runner.moto_routes import route_moto_executions
from lease_ops.local_runner.task_tokens import route_moto_callbacks
from lease_ops.sandbox.moto_server import AtomicMotoServer
from tests import dynamodb_request_rules
from tests.helpers import REGION, copy_of_project, lease_table_client, wide_above

# Every DynamoDB client created in this process from here on is held to DynamoDB's request rules.
dynamodb_request_rules.install()


@pytest.fixture(autouse=True)
def dynamodb_requests_follow_dynamodbs_rules() -> Iterator[None]:
    """moto accepts requests DynamoDB refuses (unused placeholders, expressions over 4 KB, items over 400 KB,
    one item twice in a transaction...): every DynamoDB request a test sends is checked against DynamoDB's
    documented rules (tests/dynamodb_request_rules.py), answered with DynamoDB's ValidationException if it
    breaks one, and the test fails here, even if the code under test swallowed the error."""
    rules = dynamodb_request_rules.install()
    earlier = rules.take()  # sent after the previous test ended, by a thread it left running
    yield
    violations = earlier + rules.take()
    if violations:
        pytest.fail(
            "DynamoDB would refuse these requests (ValidationException):\n"
            + "\n".join(f"- {violation}" for violation in violations),
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test can reach a real account: fake credentials, a fixed region, no endpoint or profile."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")  # tests/functional/test_observability.py turns them on
    aws_clients._clients.clear()
    yield
    aws_clients._clients.clear()


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """An in-process moto DynamoDB with the shared lease table created."""
    with mock_aws():
        yield lease_table_client()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[AtomicMotoServer]:
    """A real moto server on 127.0.0.1 for tests that need real HTTP and real threads. As in the embedded AWS,
    SendTaskSuccess/Failure/Heartbeat reach the local runner's waiting tasks (``TASK_TOKENS``) and
    Describe/Stop/RedriveExecution answer for its executions."""
    server = AtomicMotoServer(routes=(route_moto_callbacks, route_moto_executions))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def analytics_app() -> Any:
    return load_chalice_app(app_folder("analytics_app"))


@pytest.fixture(scope="session")
def batch_app() -> Any:
    return load_chalice_app(app_folder("batch_app"))


@pytest.fixture(scope="session")
def lease_app() -> Any:
    return load_chalice_app(app_folder("lease_app"))


@pytest.fixture
def moto_endpoint(moto_server: AtomicMotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shared moto server, emptied, and AWS_ENDPOINT_URL pointing every client (and chalice) at it."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server.endpoint_url}/moto-api/reset", method="POST")).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint_url)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return moto_server.endpoint_url


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of platform.toml and its apps, so that deploy/destroy never touch the working tree."""
    return copy_of_project(tmp_path / "project")


ITEM_LAYOUTS = ("narrow", "wide")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module that uses the ``item_layout`` fixture runs each test on both semaphore layouts, except a test
    marked ``narrow_layout_only`` or ``wide_layout_only`` (behaviour of one layout, such as whether an
    admission reclaims an expired holder inline)."""
    if "item_layout" in metafunc.fixturenames:
        layouts = [
            layout
            for layout in ITEM_LAYOUTS
            if not any(
                metafunc.definition.get_closest_marker(f"{other}_layout_only")
                for other in ITEM_LAYOUTS
                if other != layout
            )
        ]
        metafunc.parametrize("item_layout", layouts, indirect=True)


@pytest.fixture
def item_layout(request: pytest.FixtureRequest) -> Iterator[str]:
    """``narrow``: today's threshold (the small caps of a test are one map); ``wide``: every prefix takes the
    wide layout (a count and one item per holder), whatever its cap."""
    if request.param == "narrow":
        yield request.param
        return
    with wide_above(0):
        yield request.param
