"""Both workload apps' Lambdas through chalice.test.Client against moto, configured by their config.json."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import pytest
from chalice.test import Client

from lease_core import InvalidLeaseRequest, LeaseLost
from lease_core.item_layout import holder_key
from lease_core.settings import invocation_environment
from lease_ops.config.chalice_apps import app_folder
from tests.helpers import TABLE, execution_arn, holders_in_table, table_items

# Each test runs on both semaphore layouts (tests/conftest.py) unless marked narrow_layout_only.
pytestmark = pytest.mark.usefixtures("item_layout")

CONFIGURED = {"analytics_app": ("analytics", 15, 600), "batch_app": ("batch", 5, 1200)}


def invoke(client: Client, function: str, payload: Any) -> Any:
    return client.lambda_.invoke(function, payload).payload


@pytest.fixture
def apps(analytics_client: Client, batch_client: Client) -> dict[str, Client]:
    return {"analytics_app": analytics_client, "batch_app": batch_client}


@pytest.mark.parametrize("folder", ["analytics_app", "batch_app"])
def test_each_app_registers_the_four_lambdas_of_the_contract(folder: str, analytics_app: Any, batch_app: Any) -> None:
    app = analytics_app if folder == "analytics_app" else batch_app
    assert {"acquire", "release", "renew", "process"} <= set(app.handler_map)


@pytest.mark.parametrize("folder", ["analytics_app", "batch_app"])
def test_the_stage_config_sets_prefix_cap_and_ttl_as_the_design_says(folder: str) -> None:
    config = json.loads((app_folder(folder) / ".chalice" / "config.json").read_text())
    variables = config["stages"]["dev"]["environment_variables"]
    prefix, cap, ttl = CONFIGURED[folder]
    assert variables == {
        "LEASE_TABLE_NAME": TABLE,
        "LEASE_PREFIX": prefix,
        "LEASE_MAX_CONCURRENCY": str(cap),
        "LEASE_TTL_SECONDS": str(ttl),
    }
    assert all(
        "reserved_concurrency" in config["stages"]["dev"]["lambda_functions"][name]
        for name in ("acquire", "release", "renew")
    )


@pytest.mark.parametrize("folder", ["analytics_app", "batch_app"])
def test_acquire_renew_release_follow_the_lambda_contract(apps: dict[str, Client], folder: str) -> None:
    client = apps[folder]
    prefix, _, ttl = CONFIGURED[folder]
    holder = execution_arn(prefix, "run-1")

    acquired = invoke(client, "acquire", {"holder": holder})
    renewed = invoke(client, "renew", {"holder": holder})
    released = invoke(client, "release", {"holder": holder})
    released_again = invoke(client, "release", {"holder": holder})

    assert acquired["status"] == "acquired"
    assert (acquired["holder"], acquired["prefix"]) == (holder, prefix)
    assert ttl - 5 <= acquired["expires_at"] - time.time() <= ttl
    assert renewed["status"] == "renewed" and renewed["expires_at"] >= acquired["expires_at"]
    assert released == {"status": "released"}
    assert released_again == {"status": "not_held"}


def test_batch_admits_its_configured_cap_of_five_and_then_answers_wait(apps: dict[str, Client], dynamodb: Any) -> None:
    statuses = [invoke(apps["batch_app"], "acquire", {"holder": f"run-{n}"})["status"] for n in range(6)]
    waiting = invoke(apps["batch_app"], "acquire", {"holder": "run-late"})

    assert statuses == ["acquired"] * 5 + ["wait"]
    assert waiting == {"status": "wait", "active": 5, "cap": 5}
    assert set(holders_in_table(dynamodb, "batch")) == {holder_key(f"run-{n}") for n in range(5)}


def step_functions_time(epoch: float) -> str:
    """A timestamp as $$.Execution.StartTime has it: ISO 8601, UTC, milliseconds."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_a_wait_answer_says_how_many_whole_seconds_the_execution_has_waited(apps: dict[str, Client]) -> None:
    for n in range(5):
        invoke(apps["batch_app"], "acquire", {"holder": f"run-{n}"})
    started = time.time() - 3600.5
    late = {"holder": "run-late", "waiting_since": step_functions_time(started)}

    waiting = invoke(apps["batch_app"], "acquire", late)
    ahead = invoke(apps["batch_app"], "acquire", {**late, "waiting_since": step_functions_time(time.time() + 60)})
    invoke(apps["batch_app"], "release", {"holder": "run-0"})
    acquired = invoke(apps["batch_app"], "acquire", late)

    assert waiting == {"status": "wait", "active": 5, "cap": 5, "waited": waiting["waited"]}
    assert 3600 <= waiting["waited"] <= 3600 + 30 and isinstance(waiting["waited"], int)
    assert ahead["waited"] == 0  # clocks that disagree never make it negative
    assert acquired["status"] == "acquired" and "waited" not in acquired


def test_both_apps_share_one_table_without_seeing_each_others_holders(apps: dict[str, Client], dynamodb: Any) -> None:
    for n in range(5):
        invoke(apps["batch_app"], "acquire", {"holder": f"batch-run-{n}"})

    assert invoke(apps["analytics_app"], "acquire", {"holder": "analytics-run"})["status"] == "acquired"
    assert invoke(apps["analytics_app"], "release", {"holder": "batch-run-0"}) == {"status": "not_held"}
    assert set(holders_in_table(dynamodb, "analytics")) == {holder_key("analytics-run")}
    assert set(holders_in_table(dynamodb, "batch")) == {holder_key(f"batch-run-{n}") for n in range(5)}


def test_renew_of_a_lease_not_held_raises_lease_lost(apps: dict[str, Client]) -> None:
    with pytest.raises(LeaseLost):
        invoke(apps["analytics_app"], "renew", {"holder": "never-acquired"})


@pytest.mark.parametrize("function", ["acquire", "release", "renew"])
@pytest.mark.parametrize(
    "event", [{}, {"holder": ""}, {"holder": 7}, {"holder": "x" * 257}, {"holder": "a", "b": 1}, []]
)
def test_a_bad_event_raises_invalid_lease_request_and_leaves_the_table_unchanged(
    apps: dict[str, Client], dynamodb: Any, function: str, event: Any
) -> None:
    invoke(apps["analytics_app"], "acquire", {"holder": "existing"})
    before = table_items(dynamodb)

    with pytest.raises(InvalidLeaseRequest):
        invoke(apps["analytics_app"], function, event)

    assert table_items(dynamodb) == before


@pytest.mark.parametrize(
    "changes",
    [
        {"LEASE_MAX_CONCURRENCY": "0"},
        {"LEASE_TTL_SECONDS": "soon"},
        {"LEASE_PREFIX": "Not-A-Prefix"},
        {"LEASE_TABLE_NAME": ""},
    ],
)
def test_a_malformed_environment_raises_invalid_lease_request_and_writes_nothing(
    apps: dict[str, Client], dynamodb: Any, changes: dict[str, str]
) -> None:
    config = json.loads((app_folder("analytics_app") / ".chalice" / "config.json").read_text())
    environment = {**config["stages"]["dev"]["environment_variables"], **changes}

    with invocation_environment(environment), pytest.raises(InvalidLeaseRequest):
        invoke(apps["analytics_app"], "acquire", {"holder": "run-1"})

    assert table_items(dynamodb) == []


def holding(apps: dict[str, Client], folder: str, event: dict[str, Any]) -> dict[str, Any]:
    """``event`` for the process of ``folder`` from an execution run that holds a lease of its prefix."""
    holder = execution_arn(folder.removesuffix("_app"), "working") + "#0"
    assert invoke(apps[folder], "acquire", {"holder": holder})["status"] == "acquired"
    return {**event, "lease_holder": holder}


def test_analytics_process_aggregates_the_records_it_is_given(apps: dict[str, Client]) -> None:
    event = holding(apps, "analytics_app", {"records": [{"key": "eu", "value": 1}, {"key": "eu", "value": 3}]})
    result = invoke(apps["analytics_app"], "process", event)
    assert result["groups"]["eu"]["mean"] == 2.0


def test_batch_process_transforms_a_chunk_of_items(apps: dict[str, Client]) -> None:
    event = holding(apps, "batch_app", {"items": [{"id": "a", "text": "Two Words"}], "chunk_size": 10})
    result = invoke(apps["batch_app"], "process", event)
    assert (result["done"], result["results"][0]["slug"]) == (True, "two-words")


@pytest.mark.parametrize(("folder", "error"), [("analytics_app", "InvalidRecords"), ("batch_app", "InvalidBatchItems")])
def test_process_raises_its_typed_error_on_bad_input(apps: dict[str, Client], folder: str, error: str) -> None:
    with pytest.raises(Exception) as failure:
        invoke(apps[folder], "process", holding(apps, folder, {"unexpected": True}))
    assert type(failure.value).__name__ == error
