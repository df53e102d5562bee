"""Hostile input at every entry point: each gets its typed error and leaves the table exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from chalice.test import Client

from lease_core import InvalidLeaseRequest, LeaseSemaphore
from lease_core.item_layout import holder_key
from lease_core.settings import invocation_environment
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from lease_ops.config.chalice_apps import app_folder
from tests.helpers import REGION, arn, aws_client, copy_of_project, holders_in_table, load_module, table_items
from tests.ops import run_ops

MEGABYTE = 1_000_000
JSON = {"Content-Type": "application/json"}

NOT_A_HOLDER = [
    None,
    7,
    1.5,
    True,
    [],
    {},
    {"holder": "nested"},
    "",
    "x" * 257,
    "x" * MEGABYTE,
    "nul\x00byte",
    "new\nline",
    "tab\tin",
    "escape\x1b[31m",
    "right-to-left\u202eoverride",
    "delete\x7f",
]
# Printable, so valid holders: they must land literally in the caller's own prefix, nowhere else.
CROSS_PREFIX_AND_INJECTION = [
    "../batch",
    "batch",
    "batch#semaphore",
    "#holders",
    "holders.#holder",
    "h",  # the attribute the holders' map is stored under (lease_core.item_layout.HOLDERS)
    "#h.#k",
    ":cap",
    "#cap = :cap",
    "a) OR (attribute_exists(pk)",
    "SET cap = 1000",
    "holders[0]",
    "日本語の実行 ✓",
]


@pytest.fixture
def populated(dynamodb: Any) -> list[dict[str, Any]]:
    """Both prefixes in use, so that any stray write would show in the snapshot."""
    LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, "analytics", initial_cap=15).acquire("existing-analytics")
    LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, "batch", initial_cap=5).acquire("existing-batch")
    return table_items(dynamodb)


# -- Lambda events -----------------------------------------------------------------------------------


@pytest.mark.parametrize("function", ["acquire", "release", "renew"])
@pytest.mark.parametrize("holder", NOT_A_HOLDER, ids=lambda value: repr(value)[:24])
def test_a_lease_lambda_refuses_a_hostile_holder_and_changes_nothing(
    analytics_client: Client, dynamodb: Any, populated: list[dict[str, Any]], function: str, holder: Any
) -> None:
    with pytest.raises(InvalidLeaseRequest):
        analytics_client.lambda_.invoke(function, {"holder": holder})
    assert table_items(dynamodb) == populated


@pytest.mark.parametrize(
    "event",
    [
        None,
        "holder",
        42,
        [],
        ["holder"],
        {"holder": "a", "prefix": "batch"},
        {"holder": "a", "#holders": 1},
        {"HOLDER": "a"},
        {"holder": "a", "x" * MEGABYTE: 1},
    ],
    ids=lambda value: repr(value)[:24],
)
def test_a_lease_lambda_refuses_a_hostile_event_shape_and_changes_nothing(
    analytics_client: Client, dynamodb: Any, populated: list[dict[str, Any]], event: Any
) -> None:
    with pytest.raises(InvalidLeaseRequest):
        analytics_client.lambda_.invoke("acquire", event)
    assert table_items(dynamodb) == populated


@pytest.mark.parametrize("holder", CROSS_PREFIX_AND_INJECTION)
def test_a_holder_that_looks_like_a_key_or_an_expression_stays_a_literal_holder_of_its_own_prefix(
    analytics_client: Client, dynamodb: Any, populated: list[dict[str, Any]], holder: str
) -> None:
    before_batch = [item for item in populated if item["pk"]["S"].startswith("batch#")]

    answer = analytics_client.lambda_.invoke("acquire", {"holder": holder}).payload

    assert (answer["status"], answer["prefix"], answer["holder"]) == ("acquired", "analytics", holder)
    assert set(holders_in_table(dynamodb, "analytics")) == {holder_key("existing-analytics"), holder_key(holder)}
    assert LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, "analytics").inspect().holds(holder)
    assert [item for item in table_items(dynamodb) if item["pk"]["S"].startswith("batch#")] == before_batch
    assert {item["pk"]["S"] for item in table_items(dynamodb)} == {"analytics#semaphore", "batch#semaphore"}
    assert int(table_items(dynamodb)[0]["cap"]["N"]) == 15


def test_a_megabyte_of_records_or_items_is_refused_by_process_with_its_typed_error(
    analytics_client: Client, batch_client: Client
) -> None:
    aggregation = load_module("analytics_app/chalicelib/aggregation.py")
    transformation = load_module("batch_app/chalicelib/transformation.py")
    holder = arn("states", "execution:wf:huge") + "#0"
    assert analytics_client.lambda_.invoke("acquire", {"holder": holder}).payload["status"] == "acquired"
    assert batch_client.lambda_.invoke("acquire", {"holder": holder}).payload["status"] == "acquired"
    huge_records = {"records": [{"key": "k", "value": 1}] * 20_000, "lease_holder": holder}
    huge_text = {"items": [{"id": "1", "text": "x" * MEGABYTE}], "lease_holder": holder}

    with pytest.raises(Exception) as records_error:
        analytics_client.lambda_.invoke("process", huge_records)
    with pytest.raises(Exception) as items_error:
        batch_client.lambda_.invoke("process", huge_text)

    assert type(records_error.value).__name__ == aggregation.InvalidRecords.__name__
    assert type(items_error.value).__name__ == transformation.InvalidBatchItems.__name__


# -- HTTP API ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/prefixes/" + quote("batch\x00", safe=""), None),
        ("get", "/prefixes/" + quote("日本", safe=""), None),
        ("get", "/prefixes/" + "a" * 5000, None),
        ("put", "/prefixes/" + quote("../batch", safe="") + "/cap", json.dumps({"cap": 1})),
        ("put", "/prefixes/batch/cap", json.dumps({"cap": 10**30})),
        ("put", "/prefixes/batch/cap", json.dumps({"cap": -1})),
        ("put", "/prefixes/batch/cap", json.dumps({"cap": None})),
        ("put", "/prefixes/batch/cap", json.dumps({"cap": "\uff11\uff15"})),
        ("put", "/prefixes/batch/cap", json.dumps({"cap": 3, "#cap": 1})),
        ("put", "/prefixes/batch/cap", json.dumps({"cap": [3] * 100_000})),
        ("put", "/prefixes/batch/cap", "x" * MEGABYTE),
        ("put", "/prefixes/batch/cap", ""),
        ("put", "/prefixes/batch/cap", "\x00\x01"),
        ("delete", "/prefixes/batch/holders/" + quote("nul\x00", safe=""), None),
        ("delete", "/prefixes/batch/holders/" + "h" * 5000, None),
        ("delete", "/prefixes/batch/holders/" + quote("line\nbreak", safe=""), None),
    ],
    ids=lambda value: repr(value)[:30],
)
def test_the_api_answers_hostile_requests_with_a_4xx_json_error_and_changes_nothing(
    lease_api: Any, dynamodb: Any, populated: list[dict[str, Any]], method: str, path: str, body: str | None
) -> None:
    response = (
        getattr(lease_api, method)(path, headers=JSON, body=body)
        if body is not None
        else getattr(lease_api, method)(path)
    )

    assert 400 <= response.status_code < 500
    assert response.json_body["error"] and response.json_body["message"]
    assert table_items(dynamodb) == populated


@pytest.mark.parametrize("holder", CROSS_PREFIX_AND_INJECTION)
def test_force_release_of_a_key_looking_holder_touches_nothing_but_that_holder(
    lease_api: Any, dynamodb: Any, populated: list[dict[str, Any]], holder: str
) -> None:
    response = lease_api.delete(f"/prefixes/analytics/holders/{quote(holder, safe='')}")

    assert response.status_code == 404 and response.json_body["error"] == "NotHeld"
    assert table_items(dynamodb) == populated


def test_force_release_by_the_holder_key_of_another_prefixes_holder_touches_nothing(
    lease_api: Any, dynamodb: Any, populated: list[dict[str, Any]]
) -> None:
    # DELETE takes a holder key too (as GET lists them): a key of batch's holder must not reach into batch.
    response = lease_api.delete(f"/prefixes/analytics/holders/{quote(holder_key('existing-batch'), safe='')}")

    assert response.status_code == 404 and response.json_body["error"] == "NotHeld"
    assert table_items(dynamodb) == populated


# -- configuration and environment -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEASE_MAX_CONCURRENCY", "\uff11\uff15"),
        ("LEASE_MAX_CONCURRENCY", "1e3"),
        ("LEASE_MAX_CONCURRENCY", "0x10"),
        ("LEASE_MAX_CONCURRENCY", "9" * 5000),
        ("LEASE_TTL_SECONDS", "-600"),
        ("LEASE_TTL_SECONDS", "600\x00"),
        ("LEASE_PREFIX", "analytics#"),
        ("LEASE_PREFIX", "\uff41nalytics"),
        ("LEASE_TABLE_NAME", "regional-concurrency-leases\n"),
        ("LEASE_TABLE_NAME", "t" * 300),
    ],
)
def test_a_hostile_lambda_environment_is_refused_before_any_write(
    analytics_client: Client, dynamodb: Any, populated: list[dict[str, Any]], variable: str, value: str
) -> None:
    config = json.loads((app_folder("analytics_app") / ".chalice" / "config.json").read_text())
    environment = {**config["stages"]["dev"]["environment_variables"], "AWS_REGION": REGION, variable: value}
    with invocation_environment(environment), pytest.raises(InvalidLeaseRequest):
        analytics_client.lambda_.invoke("acquire", {"holder": "run-1"})
    assert table_items(dynamodb) == populated


def handoff_environment(**overrides: str) -> dict[str, str]:
    config = json.loads((app_folder("analytics_app") / ".chalice" / "config.json").read_text())
    return {
        **config["stages"]["dev"]["environment_variables"],
        "AWS_REGION": REGION,
        "LEASE_WAIT_MODE": "handoff",
        **overrides,
    }


@pytest.mark.parametrize(
    "token",
    [None, 7, "", "t" * 2049, "line\nbreak", "nul\x00", ["token"], {"token": "x"}],
    ids=lambda value: repr(value)[:24],
)
def test_a_handoff_acquire_refuses_a_hostile_task_token_and_changes_nothing(
    analytics_client: Client, dynamodb: Any, populated: list[dict[str, Any]], token: Any
) -> None:
    with invocation_environment(handoff_environment()), pytest.raises(InvalidLeaseRequest):
        analytics_client.lambda_.invoke("acquire", {"holder": "run-1", "task_token": token})
    assert table_items(dynamodb) == populated


def test_a_handoff_acquire_without_a_task_token_says_how_to_invoke_it_and_changes_nothing(
    analytics_client: Client, dynamodb: Any, populated: list[dict[str, Any]]
) -> None:
    with invocation_environment(handoff_environment()), pytest.raises(InvalidLeaseRequest, match="waitForTaskToken"):
        analytics_client.lambda_.invoke("acquire", {"holder": "run-1"})
    assert table_items(dynamodb) == populated


def test_a_task_token_sent_to_a_polling_acquire_is_refused_and_changes_nothing(
    analytics_client: Client, dynamodb: Any, populated: list[dict[str, Any]]
) -> None:
    with pytest.raises(InvalidLeaseRequest, match="LEASE_WAIT_MODE is poll"):
        analytics_client.lambda_.invoke("acquire", {"holder": "run-1", "task_token": "AAAA-token"})
    assert table_items(dynamodb) == populated


@pytest.mark.parametrize(
    "since",
    [
        None,
        0,
        1553631253.192,
        "",
        "yesterday",
        "2019-03-26T20:14:13.192",
        "2019-03-26T20:14:13.192+01:00",
        "2019-02-30T20:14:13.192Z",
        "2019-03-26T20:14:13.192Z; DROP",
        "\uff12019-03-26T20:14:13.192Z",
        "2019-03-26T20:14:13.192Z" * 1000,
        {"S": "2019-03-26T20:14:13.192Z"},
    ],
    ids=lambda value: repr(value)[:24],
)
def test_a_polling_acquire_refuses_a_hostile_waiting_since_and_changes_nothing(
    analytics_client: Client, dynamodb: Any, populated: list[dict[str, Any]], since: Any
) -> None:
    # A slot is free: a bad waiting_since is refused before the acquire could write.
    with pytest.raises(InvalidLeaseRequest, match="waiting_since must be"):
        analytics_client.lambda_.invoke("acquire", {"holder": "run-1", "waiting_since": since})
    assert table_items(dynamodb) == populated


def test_a_waiting_since_sent_to_a_handoff_acquire_is_refused_and_changes_nothing(
    analytics_client: Client, dynamodb: Any, populated: list[dict[str, Any]]
) -> None:
    event = {"holder": "run-1", "task_token": "AAAA-token", "waiting_since": "2019-03-26T20:14:13.192Z"}
    with invocation_environment(handoff_environment()), pytest.raises(InvalidLeaseRequest, match="handoff"):
        analytics_client.lambda_.invoke("acquire", event)
    assert table_items(dynamodb) == populated


@pytest.mark.parametrize("mode", ["Handoff", "push", "poll;handoff", "\uff48andoff"])
def test_an_unknown_wait_mode_is_refused_before_any_write(
    analytics_client: Client, dynamodb: Any, populated: list[dict[str, Any]], mode: str
) -> None:
    with invocation_environment(handoff_environment(LEASE_WAIT_MODE=mode)), pytest.raises(InvalidLeaseRequest):
        analytics_client.lambda_.invoke("acquire", {"holder": "run-1", "task_token": "AAAA-token"})
    assert table_items(dynamodb) == populated


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_of_project(tmp_path)


@pytest.mark.parametrize(
    "arguments",
    [
        ["bootstrap", "--region", ""],
        ["bootstrap", "--region", "eu-central-1\n"],
        ["bootstrap", "--region", "日本-1"],
        ["bootstrap", "--region", "x" * MEGABYTE],
        ["bootstrap", "--table", "../other"],
        ["bootstrap", "--table", "t\x00"],
        ["bootstrap", "--stage", "dev; rm -rf /"],
        ["workflows", "--workload", "../batch"],
        ["run", "--executions", "0"],
        ["run", "--executions", "many"],
        ["demo", "--executions", "analytics"],
        ["demo", "--time-scale", "-1"],
        ["demo", "--fail-fraction", "nan"],
        ["local", "--port", "0"],
        ["render", "--account-id", "12345"],
        ["chaos", "--scenario", "everything"],
        ["no-such-command"],
    ],
    ids=lambda value: " ".join(value)[:40],
)
def test_a_hostile_command_line_is_one_error_line_exit_2_and_no_table(
    capsys: pytest.CaptureFixture[str], project: Path, moto_endpoint: str, arguments: list[str]
) -> None:
    outcome_code, err = None, ""
    try:
        outcome = run_ops(capsys, project, *arguments)
        outcome_code, err = outcome.exit_code, outcome.err
    except SystemExit as exit_:
        outcome_code, err = exit_.code, capsys.readouterr().err

    assert outcome_code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert aws_client("dynamodb").list_tables()["TableNames"] == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('table = "regional-concurrency-leases"', 'table = "日本"'),
        ('table = "regional-concurrency-leases"', "table = 5"),
        ('region = "eu-central-1"', 'region = "' + "x" * MEGABYTE + '"'),
        ('prefix = "batch"', 'prefix = "batch#x"'),
        ('prefix = "batch"', 'prefix = "../analytics"'),
        ('app = "batch_app"', 'app = "../../etc"'),
        ("wait_seconds = 10", "wait_seconds = 1e9"),
        ('stage = "dev"', 'stage = "dev\\u0000"'),
    ],
)
def test_a_hostile_platform_file_is_one_error_line_exit_2_and_no_table(
    capsys: pytest.CaptureFixture[str], project: Path, moto_endpoint: str, old: str, new: str
) -> None:
    assert old in project.read_text()
    project.write_text(project.read_text().replace(old, new, 1))

    outcome = run_ops(capsys, project, "bootstrap")

    assert outcome.exit_code == 2
    assert outcome.err.startswith("error: ") and outcome.err.count("\n") == 1
    assert aws_client("dynamodb").list_tables()["TableNames"] == []


@pytest.mark.parametrize(("variable", "value"), [("REGION", "nowhere-1"), ("TABLE", "a b"), ("STAGE", "PROD")])
def test_a_hostile_environment_override_is_one_error_line_and_no_table(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)

    outcome = run_ops(capsys, project, "bootstrap")

    assert outcome.exit_code == 2 and outcome.err.count("\n") == 1
    assert aws_client("dynamodb").list_tables()["TableNames"] == []


@pytest.mark.parametrize("value", ["\uff11\uff15", "15.0", "-5", "", "15; DROP", "99999999999999"])
def test_a_hostile_cap_in_config_json_is_refused_by_caps_with_one_line_and_no_write(
    capsys: pytest.CaptureFixture[str], project: Path, moto_endpoint: str, value: str
) -> None:
    run_ops(capsys, project, "bootstrap")
    config_file = project.parent / "batch_app" / ".chalice" / "config.json"
    config = json.loads(config_file.read_text())
    config["stages"]["dev"]["environment_variables"]["LEASE_MAX_CONCURRENCY"] = value
    config_file.write_text(json.dumps(config))
    client = aws_client("dynamodb")
    before = table_items(client)

    outcome = run_ops(capsys, project, "caps")

    assert outcome.exit_code == 2 and outcome.err.count("\n") == 1
    assert "LEASE_MAX_CONCURRENCY" in outcome.err
    assert table_items(client) == before
