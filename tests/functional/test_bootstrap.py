"""`make bootstrap` against a moto server: the table's shape, reruns, dry runs and refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lease_core import Acquired, LeaseSemaphore, LeaseStoreUnavailable
from tests.helpers import TABLE, aws_client
from tests.ops import run_ops


@pytest.fixture
def dynamodb(moto_endpoint: str) -> Any:
    """DynamoDB on the emptied moto server, without the lease table: the bootstrap makes it."""
    return aws_client("dynamodb")


def test_bootstrap_creates_the_table_with_keys_ttl_recovery_encryption_and_deletion_protection(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any
) -> None:
    outcome = run_ops(capsys, project, "bootstrap")

    assert outcome.exit_code == 0, outcome.err
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert table["DeletionProtectionEnabled"] is True
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")
    backups = dynamodb.describe_continuous_backups(TableName=TABLE)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert "done     create the table" in outcome.out


def test_bootstrap_run_again_changes_nothing_and_says_so(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any
) -> None:
    run_ops(capsys, project, "bootstrap")

    again = run_ops(capsys, project, "bootstrap")

    assert again.exit_code == 0
    assert "nothing to change" in again.out
    assert "done" not in again.out


def test_bootstrap_dry_run_prints_the_plan_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any
) -> None:
    outcome = run_ops(capsys, project, "bootstrap", "--dry-run")

    assert outcome.exit_code == 0
    assert "would    create the table" in outcome.out
    assert "would    enable TTL" in outcome.out
    assert dynamodb.list_tables()["TableNames"] == []


def create_bare_lease_table(dynamodb: Any, *, tags: list[dict[str, str]] | None = None) -> None:
    """A table with the lease table's keys and nothing else: provisioned, no TTL, no recovery."""
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        **({"Tags": tags} if tags else {}),
    )


def test_bootstrap_completes_a_half_made_table(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any
) -> None:
    # A create of ours cut short: the table exists with our tag, nothing else set.
    create_bare_lease_table(dynamodb, tags=[{"Key": "managed-by", "Value": "shared-lease-platform"}])

    outcome = run_ops(capsys, project, "bootstrap")

    assert outcome.exit_code == 0
    assert "done     switch billing to on-demand" in outcome.out
    assert "done     turn deletion protection on" in outcome.out
    assert "done     enable TTL" in outcome.out
    assert "done     enable point-in-time recovery" in outcome.out
    assert dynamodb.describe_table(TableName=TABLE)["Table"]["DeletionProtectionEnabled"] is True


def test_bootstrap_refuses_a_table_of_that_name_with_another_key_schema(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any
) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    outcome = run_ops(capsys, project, "bootstrap")

    assert outcome.exit_code == 2
    assert outcome.err.count("\n") == 1
    assert "exists with key schema (id HASH S)" in outcome.err
    assert dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"


def table_settings(dynamodb: Any) -> tuple[Any, ...]:
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    backups = dynamodb.describe_continuous_backups(TableName=TABLE)["ContinuousBackupsDescription"]
    return (
        table["BillingModeSummary"]["BillingMode"] if "BillingModeSummary" in table else "PROVISIONED",
        table.get("SSEDescription", {}).get("Status"),
        table.get("DeletionProtectionEnabled", False),
        backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
    )


def tags_of(dynamodb: Any) -> dict[str, str]:
    arn = dynamodb.describe_table(TableName=TABLE)["Table"]["TableArn"]
    return {tag["Key"]: tag["Value"] for tag in dynamodb.list_tags_of_resource(ResourceArn=arn)["Tags"]}


def test_bootstrap_refuses_a_table_it_did_not_create_and_changes_nothing_on_it(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any
) -> None:
    create_bare_lease_table(dynamodb, tags=[{"Key": "team", "Value": "data"}])
    before = table_settings(dynamodb)

    outcome = run_ops(capsys, project, "bootstrap")

    assert outcome.exit_code == 2
    assert outcome.err.count("\n") == 1
    assert "is not tagged managed-by=shared-lease-platform" in outcome.err and "ARGS=--adopt" in outcome.err
    assert table_settings(dynamodb) == before
    assert dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
    assert tags_of(dynamodb) == {"team": "data"}


def test_adopting_a_table_sets_only_ttl_and_the_tags_and_says_what_it_left_as_it_was(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any
) -> None:
    create_bare_lease_table(dynamodb, tags=[{"Key": "team", "Value": "data"}])
    before = table_settings(dynamodb)

    outcome = run_ops(capsys, project, "bootstrap", "--adopt")

    assert outcome.exit_code == 0, outcome.err
    assert "done     adopt the table: tag it managed-by=shared-lease-platform" in outcome.out
    assert "done     enable TTL on attribute 'ttl'" in outcome.out
    assert (
        "left as its owner set it: billing provisioned, encryption with the DynamoDB-owned key, "
        "deletion protection off, point-in-time recovery off" in outcome.out
    )
    assert table_settings(dynamodb) == before
    assert dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    assert tags_of(dynamodb) == {"team": "data", "managed-by": "shared-lease-platform", "lease-table-adopted": "true"}

    again = run_ops(capsys, project, "bootstrap")  # without --adopt: it is adopted now, and still left alone

    assert again.exit_code == 0, again.err
    assert "nothing to change" in again.out and "adopted earlier" in again.out
    assert table_settings(dynamodb) == before


def test_destroy_never_deletes_an_adopted_table(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any
) -> None:
    create_bare_lease_table(dynamodb)
    assert run_ops(capsys, project, "bootstrap", "--adopt").exit_code == 0

    outcome = run_ops(capsys, project, "destroy", "--destroy-table", "--dry-run")

    assert outcome.exit_code == 2
    assert "was adopted (`bootstrap --adopt`), not created, by this platform: not deleting it" in outcome.err


def test_adopting_with_dry_run_says_what_it_would_do_and_does_nothing(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any
) -> None:
    create_bare_lease_table(dynamodb)

    outcome = run_ops(capsys, project, "bootstrap", "--adopt", "--dry-run")

    assert outcome.exit_code == 0, outcome.err
    assert "would    adopt the table" in outcome.out and "would    enable TTL" in outcome.out
    assert tags_of(dynamodb) == {}


def test_the_table_name_comes_from_the_flag_then_the_environment_then_platform_toml(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLE", "from-environment")
    run_ops(capsys, project, "bootstrap")
    run_ops(capsys, project, "bootstrap", "--table", "from-flag")

    assert sorted(dynamodb.list_tables()["TableNames"]) == ["from-environment", "from-flag"]


def test_bootstrap_without_deletion_protection_when_asked(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any
) -> None:
    run_ops(capsys, project, "bootstrap", "--no-deletion-protection")

    assert dynamodb.describe_table(TableName=TABLE)["Table"]["DeletionProtectionEnabled"] is False


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--region", "eu-centrl-1"], "unknown AWS region 'eu-centrl-1'; did you mean eu-central-1"),
        (["--table", "no spaces"], "table name must be"),
        (["--stage", "Prod!"], "stage must be"),
    ],
)
def test_a_bad_override_is_one_clear_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any, arguments: list[str], message: str
) -> None:
    outcome = run_ops(capsys, project, "bootstrap", *arguments)

    assert outcome.exit_code == 2
    assert outcome.err.startswith("error: ") and message in outcome.err
    assert outcome.err.count("\n") == 1
    assert dynamodb.list_tables()["TableNames"] == []


def test_missing_credentials_are_one_clear_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    outcome = run_ops(capsys, project, "bootstrap")

    assert outcome.exit_code == 2
    assert outcome.err.startswith("error: no AWS credentials found")
    assert outcome.err.count("\n") == 1


def _legacy_semaphore(dynamodb: Any, prefix: str, holders: dict[str, Any]) -> None:
    """A semaphore item as the earlier item layout wrote it: holders by full id under ``holders``."""
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"{prefix}#semaphore"},
            "sk": {"S": "semaphore"},
            "cap": {"N": "3"},
            "holders": {"M": holders},
        },
    )


def test_bootstrap_migrates_an_idle_prefix_of_the_earlier_layout_and_the_core_admits_on_it_after(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any
) -> None:
    run_ops(capsys, project, "bootstrap")
    _legacy_semaphore(dynamodb, "analytics", {})
    semaphore = LeaseSemaphore(dynamodb, TABLE, "analytics")
    with pytest.raises(LeaseStoreUnavailable, match="make bootstrap"):
        semaphore.acquire("run-1")  # fail closed: nobody is admitted on the earlier layout

    outcome = run_ops(capsys, project, "bootstrap")

    assert outcome.exit_code == 0, outcome.err
    assert "done     migrate prefix analytics to the current item layout" in outcome.out
    assert isinstance(semaphore.acquire("run-1"), Acquired)
    assert semaphore.inspect().cap == 3
    assert "nothing to change" in run_ops(capsys, project, "bootstrap").out


def test_bootstrap_refuses_to_migrate_a_prefix_of_the_earlier_layout_that_still_has_holders(
    capsys: pytest.CaptureFixture[str], project: Path, dynamodb: Any
) -> None:
    run_ops(capsys, project, "bootstrap")
    _legacy_semaphore(dynamodb, "batch", {"run-7": {"M": {"a": {"N": "1"}, "e": {"N": "2000000000"}}}})

    outcome = run_ops(capsys, project, "bootstrap")

    assert outcome.exit_code == 2
    assert "prefix 'batch' is in the earlier item layout with 1 holder(s)" in outcome.err
    assert "Traceback" not in outcome.err
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "batch#semaphore"}, "sk": {"S": "semaphore"}})["Item"]
    assert "holders" in item and "h" not in item  # untouched
