"""lease_app's HTTP API through chalice.test.Client against moto: see, steer, force-release; 4xx for mistakes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from chalice import IAMAuthorizer

from lease_core import MustWait
from lease_core.item_layout import holder_key
from lease_core.settings import invocation_environment
from lease_core.waiting_room import WaitingRoom
from tests.helpers import REGION, execution_arn, holders_in_table, lease_semaphore, table_items

# Each test runs on both semaphore layouts (tests/conftest.py) unless marked narrow_layout_only.
pytestmark = pytest.mark.usefixtures("item_layout")

JSON = {"Content-Type": "application/json"}


def test_every_route_requires_iam_authorization_when_deployed(lease_app: Any) -> None:
    routes = [entry for methods in lease_app.routes.values() for entry in methods.values()]
    assert len(routes) == 4
    assert all(isinstance(entry.authorizer, IAMAuthorizer) for entry in routes)


def test_get_prefixes_lists_every_prefix_with_cap_holders_waiters_and_the_next_expiry(
    lease_api: Any, dynamodb: Any
) -> None:
    lease_semaphore(dynamodb, "analytics", cap=15, clock=1_000).acquire("old")  # expired at epoch second 1600
    lease_semaphore(dynamodb, "analytics", cap=15).acquire("new")
    lease_semaphore(dynamodb, "batch", cap=5).set_cap(5)
    reports = lease_semaphore(dynamodb, "reports", cap=1)
    reports.acquire("holding")
    WaitingRoom(reports).enqueue("queued", "token")

    response = lease_api.get("/prefixes")

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


def test_get_one_prefix_shows_its_cap_and_holders_by_key_with_their_expiry(lease_api: Any, dynamodb: Any) -> None:
    holder = execution_arn("batch", "run-1")
    acquired = lease_semaphore(dynamodb, "batch", cap=5).acquire(holder)

    body = lease_api.get("/prefixes/batch").json_body

    assert (body["prefix"], body["cap"], body["holder_count"]) == ("batch", 5, 1)
    (entry,) = body["holders"]
    assert entry == {
        "holder_key": holder_key(holder),
        "expires_at": acquired.expires_at,
        "expired": False,
        "handed_over": False,
    }


def test_get_one_prefix_marks_a_slot_that_a_release_handed_to_a_waiter(lease_api: Any, dynamodb: Any) -> None:
    batch = lease_semaphore(dynamodb, "batch", cap=1)
    batch.acquire("releasing")
    WaitingRoom(batch).enqueue("waiting", "token")
    assert batch.release("releasing").handed_to is not None

    (entry,) = lease_api.get("/prefixes/batch").json_body["holders"]

    assert (entry["holder_key"], entry["handed_over"], entry["expired"]) == (holder_key("waiting"), True, False)


def test_put_cap_changes_it_live_and_lowering_it_admits_nobody_until_holders_drain(
    lease_api: Any, dynamodb: Any
) -> None:
    batch = lease_semaphore(dynamodb, "batch", cap=5)
    for n in range(3):
        batch.acquire(f"run-{n}")

    response = lease_api.put("/prefixes/batch/cap", headers=JSON, body=json.dumps({"cap": 2}))

    assert response.status_code == 200
    assert response.json_body == {"prefix": "batch", "old_cap": 5, "cap": 2, "holder_count": 3, "admits_new": False}
    assert batch.acquire("run-new") == MustWait(active=3, cap=2)


def test_delete_force_releases_one_url_encoded_holder_and_a_second_delete_is_404(lease_api: Any, dynamodb: Any) -> None:
    iteration = execution_arn("batch", "run-1") + "/3"
    batch = lease_semaphore(dynamodb, "batch", cap=5)
    batch.acquire(iteration)
    batch.acquire("other")

    first = lease_api.delete(f"/prefixes/batch/holders/{quote(iteration, safe='')}")
    second = lease_api.delete(f"/prefixes/batch/holders/{quote(iteration, safe='')}")

    assert first.status_code == 200 and first.json_body["holder"] == iteration
    assert second.status_code == 404 and second.json_body["error"] == "NotHeld"
    assert set(holders_in_table(dynamodb, "batch")) == {holder_key("other")}


def test_delete_also_force_releases_a_holder_by_the_key_that_get_lists(lease_api: Any, dynamodb: Any) -> None:
    iteration = execution_arn("batch", "run-1") + "/3"
    batch = lease_semaphore(dynamodb, "batch", cap=5)
    batch.acquire(iteration)
    batch.acquire("other")
    listed = {entry["holder_key"] for entry in lease_api.get("/prefixes/batch").json_body["holders"]}
    assert holder_key(iteration) in listed

    first = lease_api.delete(f"/prefixes/batch/holders/{quote(holder_key(iteration), safe='')}")
    second = lease_api.delete(f"/prefixes/batch/holders/{quote(holder_key(iteration), safe='')}")

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
    lease_api: Any, dynamodb: Any, method: str, path: str, body: Any, status: int, error: str
) -> None:
    lease_semaphore(dynamodb, "batch", cap=5).acquire("someone")
    before = table_items(dynamodb)
    payload = body if isinstance(body, str) else json.dumps(body)

    response = (
        getattr(lease_api, method)(path, headers=JSON, body=payload)
        if body is not None
        else getattr(lease_api, method)(path)
    )

    assert response.status_code == status
    assert response.json_body["error"] == error
    assert response.json_body["message"]
    assert table_items(dynamodb) == before


def test_a_body_that_is_not_json_content_is_refused_with_415(lease_api: Any, dynamodb: Any) -> None:
    lease_semaphore(dynamodb, "batch", cap=5).set_cap(5)

    response = lease_api.put("/prefixes/batch/cap", headers={"Content-Type": "text/plain"}, body="3")

    assert response.status_code == 415


def test_a_store_failure_is_a_503_and_a_missing_table_setting_a_500_both_with_json(
    lease_api: Any, dynamodb: Any
) -> None:
    environment = {"AWS_REGION": REGION, "LEASE_TABLE_NAME": "no-such-table"}
    with invocation_environment(environment):
        unavailable = lease_api.get("/prefixes")
    with invocation_environment({"AWS_REGION": REGION}):
        misconfigured = lease_api.get("/prefixes")

    assert (unavailable.status_code, unavailable.json_body["error"]) == (503, "LeaseStoreUnavailable")
    assert (misconfigured.status_code, misconfigured.json_body["error"]) == (500, "ServerMisconfigured")
    assert "LEASE_TABLE_NAME" in misconfigured.json_body["message"]
