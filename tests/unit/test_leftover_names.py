"""destroy's lookup of an app's leftovers: exact names from the app's own functions, never a name prefix."""

from __future__ import annotations

from lease_ops.config.chalice_apps import app_folder
from lease_ops.provisioning.leftovers import ChaliceNames


def test_the_platform_apps_leftovers_are_its_own_functions_rules_roles_and_log_groups_by_exact_name() -> None:
    names = ChaliceNames.of_app(app_folder("lease_app"), "dev")

    assert names.function_names == {
        "shared-lease-platform-dev",
        "shared-lease-platform-dev-reclaim",
        "shared-lease-platform-dev-sweeper",
    }
    assert names.rule_names == {"shared-lease-platform-dev-reclaim-event", "shared-lease-platform-dev-sweeper-event"}
    assert "shared-lease-platform-dev-api_handler" in names.role_names
    assert "/aws/lambda/shared-lease-platform-dev-api_handler" in names.log_group_names


def test_names_that_only_start_like_ours_are_not_ours() -> None:
    names = ChaliceNames.of_app(app_folder("batch_app"), "dev")
    lookalikes = [
        "shared-lease-platform-batch-dev-acquire-v2",  # someone's function next to ours
        "shared-lease-platform-batch-dev_2-acquire",  # stage dev_2
        "shared-lease-platform-batch-devx-acquire",
    ]

    assert "shared-lease-platform-batch-dev-acquire" in names.function_names
    assert not set(lookalikes) & (names.function_names | names.role_names)


def test_chalices_tag_must_name_exactly_this_app_and_stage() -> None:
    names = ChaliceNames("shared-lease-platform", "dev", frozenset({"reclaim"}))

    assert names.tagged({"aws-chalice": "version=1.34.0:stage=dev:app=shared-lease-platform"})
    assert not names.tagged({"aws-chalice": "version=1.34.0:stage=dev:app=shared-lease-platform-analytics"})
    assert not names.tagged({"aws-chalice": "version=1.34.0:stage=dev_2:app=shared-lease-platform"})
    assert not names.tagged({})
