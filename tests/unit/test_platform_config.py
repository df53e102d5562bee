"""platform.toml, its overrides, and the app configuration rendered from it."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from lease_ops.config.app_config import sync_all_apps
from lease_ops.config.platform_config import (
    ROLE_NAME_LIMIT,
    STATE_MACHINE_NAME_LIMIT,
    load_platform_config,
    with_overrides,
)
from lease_ops.errors import PlatformConfigError, RuntimeMismatch, UnknownRegion, UnknownWorkload
from lease_ops.provisioning.deploy import check_lambda_runtime
from tests.helpers import REGION, TABLE, copy_of_project

DESIGNED = ("analytics", "batch")


@pytest.fixture
def copy_of_repository(tmp_path: Path) -> Path:
    return copy_of_project(tmp_path).parent


def test_the_checked_in_configuration_has_the_designed_defaults() -> None:
    config = load_platform_config()

    assert (config.platform, config.region, config.table, config.stage) == (
        "shared-lease-platform",
        REGION,
        TABLE,
        "dev",
    )
    # The two shipped workloads (others added with `make workload` may follow).
    assert {name: (w.app, w.prefix, w.wait_seconds) for name, w in config.workloads.items() if name in DESIGNED} == {
        "analytics": ("analytics_app", "analytics", 5),
        "batch": ("batch_app", "batch", 10),
    }
    assert config.state_machine_name(config.workload("batch")) == "shared-lease-platform-dev-batch-workflow"


def test_every_name_the_platform_gives_carries_the_stage_so_stages_live_side_by_side() -> None:
    dev = load_platform_config()
    prod = with_overrides(dev, stage="prod")
    batch = dev.workload("batch")

    assert dev.state_machine_name(batch) != prod.state_machine_name(batch)
    assert dev.role_name(batch) != prod.role_name(batch)
    assert {
        "shared-lease-platform-prod-analytics-workflow",
        "shared-lease-platform-prod-batch-workflow",
    } <= set(prod.state_machine_names)
    assert all(name.startswith("shared-lease-platform-prod-") for name in prod.state_machine_names)
    assert prod.role_name(batch) == f"shared-lease-platform-prod-batch-workflow-{REGION}"


def test_names_longer_than_aws_accepts_keep_their_start_and_end_in_a_hash_of_the_whole() -> None:
    config = with_overrides(load_platform_config(), stage="a_rather_long_stage1", region="ap-southeast-2")
    long_prefix = replace(config.workload("batch"), prefix="p" * 48)
    other_prefix = replace(long_prefix, prefix="p" * 47 + "q")

    state_machine, role = config.state_machine_name(long_prefix), config.role_name(long_prefix)

    assert len(state_machine) == STATE_MACHINE_NAME_LIMIT and len(role) == ROLE_NAME_LIMIT
    assert state_machine.startswith("shared-lease-platform-a_rather_long_stage1-ppp")
    assert role.startswith("shared-lease-platform-a_rather_long_stage1-ppp")
    assert config.state_machine_name(other_prefix) != state_machine and config.role_name(other_prefix) != role
    assert config.state_machine_name(long_prefix) == state_machine  # the same on every run


def test_a_flag_beats_the_environment_which_beats_the_file() -> None:
    config = load_platform_config()
    environment = {"REGION": "eu-west-1", "TABLE": "env-table", "STAGE": "prod"}

    from_environment = with_overrides(config, environment=environment)
    from_flags = with_overrides(config, region="us-east-1", table="flag-table", environment=environment)

    assert (from_environment.region, from_environment.table, from_environment.stage) == (
        "eu-west-1",
        "env-table",
        "prod",
    )
    assert (from_flags.region, from_flags.table, from_flags.stage) == ("us-east-1", "flag-table", "prod")


def test_an_unknown_region_suggests_the_closest_real_ones() -> None:
    with pytest.raises(UnknownRegion, match="did you mean eu-central-1"):
        with_overrides(load_platform_config(), region="eu-centrl-1")


def test_an_unknown_workload_lists_the_known_ones() -> None:
    with pytest.raises(UnknownWorkload, match=r"platform\.toml defines analytics, batch"):
        load_platform_config().select(["nope"])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('prefix = "batch"', 'prefix = "Batch"', "prefix must match"),
        ('prefix = "batch"', 'prefix = "analytics"', "two workloads share a prefix"),
        ("wait_seconds = 10", "wait_seconds = 0", "wait_seconds must be from 1 to 3600"),
        ("wait_seconds = 10", 'wait_seconds = "10"', "'wait_seconds' must be a int"),
        ('app = "batch_app"', 'app = "missing_app"', "has no app.py"),
        ("chunk_size = 25", "chunk_size = -1", "chunk_size must be a positive whole number"),
        ("chunk_size = 25", 'chunk_size = 25\nwait_mode = "push"', "wait_mode must be poll or handoff"),
        ("chunk_size = 25", "chunk_size = 25\nrecheck_seconds = 0", "recheck_seconds must be from 240 to 86400"),
        ("chunk_size = 25", "chunk_size = 25\nrecheck_seconds = 120", "recheck_seconds must be from 240 to 86400"),
        ('platform = "shared-lease-platform"', 'platform = "Shared Lease"', "platform name must match"),
        ("[workloads.batch]", "[workloads.batch", "is not valid TOML"),
        ("# log_retention_days = 30", "log_retention_days = 10", "log_retention_days must be one CloudWatch Logs"),
        ('# lambda_runtime = "python3.11"', 'lambda_runtime = "3.11"', "lambda_runtime must be like 'python3.11'"),
    ],
)
def test_a_broken_platform_file_is_refused_with_what_is_wrong(
    copy_of_repository: Path, old: str, new: str, message: str
) -> None:
    path = copy_of_repository / "platform.toml"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))

    with pytest.raises(PlatformConfigError, match=message):
        load_platform_config(path)


def test_the_checked_in_app_configs_and_policies_are_exactly_what_deploy_renders(copy_of_repository: Path) -> None:
    written = sync_all_apps(load_platform_config(copy_of_repository / "platform.toml"), partition="aws")

    assert written == []


def test_every_app_gets_the_configured_log_retention(copy_of_repository: Path) -> None:
    path = copy_of_repository / "platform.toml"
    path.write_text(path.read_text().replace("# log_retention_days = 30", "log_retention_days = 7", 1))

    written = sync_all_apps(load_platform_config(path), partition="aws")

    apps = sorted(load_platform_config(path).app_folders)
    assert sorted(written) == [f"{app}/.chalice/config.json" for app in apps]
    for app in apps:
        config = json.loads((copy_of_repository / app / ".chalice" / "config.json").read_text())
        assert config["stages"]["dev"]["log_retention_in_days"] == 7


def test_package_and_deploy_refuse_another_python_than_the_pinned_lambda_runtime() -> None:
    pinned = replace(load_platform_config(), lambda_runtime="python3.9")

    with pytest.raises(RuntimeMismatch, match=r"platform\.toml pins lambda_runtime = 'python3\.9'"):
        check_lambda_runtime(pinned)
    check_lambda_runtime(replace(pinned, lambda_runtime=f"python{sys.version_info.major}.{sys.version_info.minor}"))


def test_a_new_stage_is_copied_from_dev_with_its_own_policy_files(copy_of_repository: Path) -> None:
    config = with_overrides(
        load_platform_config(copy_of_repository / "platform.toml"),
        stage="prod",
        table="prod-leases",
        region="eu-west-1",
    )

    written = sync_all_apps(config, partition="aws")

    assert "batch_app/.chalice/policy-prod.json" in written
    chalice = copy_of_repository / "batch_app" / ".chalice"
    stage = json.loads((chalice / "config.json").read_text())["stages"]["prod"]
    assert stage["environment_variables"]["LEASE_TABLE_NAME"] == "prod-leases"
    assert stage["environment_variables"]["LEASE_MAX_CONCURRENCY"] == "5"
    assert stage["iam_policy_file"] == "policy-prod.json"
    policy = json.loads((chalice / "policy-prod.json").read_text())
    assert policy["Statement"][0]["Resource"] == "arn:aws:dynamodb:eu-west-1:*:table/prod-leases"
    assert sync_all_apps(config, partition="aws") == []


def test_a_handoff_workload_gets_lease_wait_mode_and_the_queue_permissions_written_into_its_app(
    copy_of_repository: Path,
) -> None:
    path = copy_of_repository / "platform.toml"
    path.write_text(path.read_text().replace("chunk_size = 25", 'chunk_size = 25\nwait_mode = "handoff"', 1))

    sync_all_apps(load_platform_config(path), partition="aws")

    chalice_dir = copy_of_repository / "batch_app" / ".chalice"
    config = json.loads((chalice_dir / "config.json").read_text())
    policy = json.loads((chalice_dir / "policy-dev.json").read_text())
    assert config["stages"]["dev"]["environment_variables"]["LEASE_WAIT_MODE"] == "handoff"
    assert "states:SendTaskSuccess" in [action for s in policy["Statement"] for action in s["Action"]]
    analytics = json.loads((copy_of_repository / "analytics_app" / ".chalice" / "config.json").read_text())
    assert "LEASE_WAIT_MODE" not in analytics["stages"]["dev"]["environment_variables"]
