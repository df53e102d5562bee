"""lease_app's HTTP API through chalice.test.Client against moto: see, steer, force-release; 4xx for mistakes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from chalice import IAMAuthorizer
from chalice.test import Client

from lease_core import LeaseSemaphore, MustWait
from lease_core.item_layout import holder_key
from lease_core.settings import invocation_environment
from lease_core.waiting_room import WaitingRoom
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from lease_ops.config.chalice_apps import app_folder
from tests.helpers import execution_arn, holders_in_table, table_items

# Each test runs on both semaphore layouts (tests/conftest.py) unless marked narrow_layout_only.
pytestmark = pytest.mark.usefixtures("item_layout")

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def api(dynamodb: Any, lease_app: Any) -> Any:
    with Client(lease_app, stage_name="dev", project_dir=str(app_folder("lease_app"))) as client:
        yield client.http


def leases(dynamodb: Any, prefix: str, cap: int, clock: float | None = None) -> LeaseSemaphore:
    options: dict[str, Any] = {} if clock is None else {"clock": lambda: clock}
    return LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, prefix, ttl_seconds=600, initial_cap=cap, **options)


def test_every_route_requires_iam_authorization_when_deployed(lease_app: Any) -> None:
    routes = [entry for methods in lease_app.routes.values() for entry in methods.values()]
    assert len(routes) == 4
    assert all(isinstance(entry.authorizer, IAMAuthorizer) for entry in routes)


def test_get_prefixes_lists_every_prefix_with_cap_holders_waiters_and_the_next_expiry(api: Any, dynamodb: Any) -> None:
    leases(dynamodb, "analytics", 15, clock=1_000).acquire("old")  # expired at epoch second 1600
    leases(dynamodb, "analytics", 15).acquire("new")
    leases(dynamodb, "batch", 5).set_cap(5)
    reports = leases(dynamodb, "reports", 1)
    reports.acquire("holding")
    WaitingRoom(reports).enqueue("queued", "token")

    response = api.get("/prefixes")

    assert response.status_code == 200
    analytics, batch, queued = response.json_body["prefixes"]
    assert (analytics["prefix"], analytics["cap"], analytics["holder_count"], analytics["active"]) == (
        "analytics",
        15,
        2,
        1,
    )
    assert analytics["next_expiry_in_s"] < -1_000_000_000  # an expired lease not yet reclaimed shows as overdue
    assert batch == {
        "prefix": "batch",
        "cap": 5,
        "holder_count": 0,
        "active": 0,
        "waiting": 0,
        "next_expiry_in_s": None,
    }
    assert (queued["prefix"], queued["holder_count"], queued["waiting"]) == ("reports", 1, 1)
    assert 590 <= queued["next_expiry_in_s"] <= 600


def test_get_one_prefix_shows_its_cap_and_holders_by_key_with_their_expiry(api: Any, dynamodb: Any) -> None:
    holder = execution_arn("batch", "run-1")
    acquired = leases(dynamodb, "batch", 5).acquire(holder)

    body = api.get("/prefixes/batch").json_body

    assert (body["prefix"], body["cap"], body["holder_count"]) == ("batch", 5, 1)
    (entry,) = body["holders"]
    assert entry == {
        "holder_key": holder_key(holder),
        "expires_at": acquired.expires_at,
        "expired": False,
        "handed_over": False,
    }


def test_get_one_prefix_marks_a_slot_that_a_release_handed_to_a_waiter(api: Any, dynamodb: Any) -> None:
    batch = leases(dynamodb, "batch", 1)
    batch.acquire("releasing")
    WaitingRoom(batch).enqueue("waiting", "token")
    assert batch.release("releasing").handed_to is not None

    (entry,) = api.get("/prefixes/batch").json_body["holders"]

    assert (entry["holder_key"], entry["handed_over"], entry["expired"]) == (holder_key("waiting"), True, False)


def test_put_cap_changes_it_live_and_lowering_it_admits_nobody_until_holders_drain(api: Any, dynamodb: Any) -> None:
    batch = leases(dynamodb, "batch", 5)
    for n in range(3):
        batch.acquire(f"run-{n}")

    response = api.put("/prefixes/batch/cap", headers=JSON, body=json.dumps({"cap": 2}))

    assert response.status_code == 200
    assert response.json_body == {"prefix": "batch", "old_cap": 5, "cap": 2, "holder_count": 3, "admits_new": False}
    assert batch.acquire("run-new") == MustWait(active=3, cap=2)


def test_delete_force_releases_one_url_encoded_holder_and_a_second_delete_is_404(api: Any, dynamodb: Any) -> None:
    iteration = execution_arn("batch", "run-1") + "/3"
    batch = leases(dynamodb, "batch", 5)
    batch.acquire(iteration)
    batch.acquire("other")

    first = api.delete(f"/prefixes/batch/holders/{quote(iteration, safe='')}")
    second = api.delete(f"/prefixes/batch/holders/{quote(iteration, safe='')}")

    assert first.status_code == 200 and first.json_body["holder"] == iteration
    assert second.status_code == 404 and second.json_body["error"] == "NotHeld"
    assert set(holders_in_table(dynamodb, "batch")) == {holder_key("other")}


def test_delete_also_force_releases_a_holder_by_the_key_that_get_lists(api: Any, dynamodb: Any) -> None:
    iteration = execution_arn("batch", "run-1") + "/3"
    batch = leases(dynamodb, "batch", 5)
    batch.acquire(iteration)
    batch.acquire("other")
    listed = {entry["holder_key"] for entry in api.get("/prefixes/batch").json_body["holders"]}
    assert holder_key(iteration) in listed

    first = api.delete(f"/prefixes/batch/holders/{quote(holder_key(iteration), safe='')}")
    second = api.delete(f"/prefixes/batch/holders/{quote(holder_key(iteration), safe='')}")

    assert first.status_code == 200 and first.json_body["holder"] == holder_key(iteration)
    assert second.status_code == 404 and second.json_body["error"] == "NotHeld"
    assert set(holders_in_table(dynamodb, "batch")) == {holder_key("other")}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("get", "/prefixes/nope", None, 404, "UnknownPrefix"),
        ("get", "/prefixes/Not-Valid", None, 400, "InvalidLeaseRequest"),
        ("put", "/prefixes/nope/cap", {"cap": 3}, 404, "UnknownPrefix"),
        ("put", "/prefixes/batch/cap", {"cap": 0}, 400, "InvalidLeaseRequest"),
        ("put", "/prefixes/batch/cap", {"cap": "5"}, 400, "InvalidLeaseRequest"),
        ("put", "/prefixes/batch/cap", {"cap": True}, 400, "InvalidLeaseRequest"),
        ("put", "/prefixes/batch/cap", {"cap": 2.5}, 400, "InvalidLeaseRequest"),
        ("put", "/prefixes/batch/cap", {"limit": 3}, 400, "InvalidLeaseRequest"),
        ("put", "/prefixes/batch/cap", [3], 400, "InvalidLeaseRequest"),
        ("put", "/prefixes/batch/cap", "{not json", 400, "InvalidLeaseRequest"),
        ("put", "/prefixes/BAD/cap", {"cap": 3}, 400, "InvalidLeaseRequest"),
        ("delete", "/prefixes/nope/holders/x", None, 404, "UnknownPrefix"),
        ("delete", "/prefixes/batch/holders/" + quote("tab\there", safe=""), None, 400, "InvalidLeaseRequest"),
    ],
)
def test_a_callers_mistake_is_a_4xx_with_a_json_error_and_changes_nothing(
    api: Any, dynamodb: Any, method: str, path: str, body: Any, status: int, error: str
) -> None:
    leases(dynamodb, "batch", 5).acquire("someone")
    before = table_items(dynamodb)
    payload = body if isinstance(body, str) else json.dumps(body)

    response = (
        getattr(api, method)(path, headers=JSON, body=payload) if body is not None else getattr(api, method)(path)
    )

    assert response.status_code == status
    assert response.json_body["error"] == error
    assert response.json_body["message"]
    assert table_items(dynamodb) == before


def test_a_body_that_is_not_json_content_is_refused_with_415(api: Any, dynamodb: Any) -> None:
    leases(dynamodb, "batch", 5).set_cap(5)

    response = api.put("/prefixes/batch/cap", headers={"Content-Type": "text/plain"}, body="3")

    assert response.status_code == 415


def test_a_store_failure_is_a_503_and_a_missing_table_setting_a_500_both_with_json(api: Any, dynamodb: Any) -> None:
    environment = {"AWS_REGION": "eu-central-1", "LEASE_TABLE_NAME": "no-such-table"}
    with invocation_environment(environment):
        unavailable = api.get("/prefixes")
    with invocation_environment({"AWS_REGION": "eu-central-1"}):
        misconfigured = api.get("/prefixes")

    assert (unavailable.status_code, unavailable.json_body["error"]) == (503, "LeaseStoreUnavailable")
    assert (misconfigured.status_code, misconfigured.json_body["error"]) == (500, "ServerMisconfigured")
    assert "LEASE_TABLE_NAME" in misconfigured.json_body["message"]
