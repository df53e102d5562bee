"""The sandbox finds a task's Chalice app and stage from the function name `chalice deploy` gave it."""

from __future__ import annotations

import pytest

from lease_ops.config.chalice_apps import REPOSITORY_ROOT
from lease_ops.local_runner.moto_lambdas import ChaliceFunction, ChaliceFunctions, FunctionAddress, function_address
from tests.helpers import ACCOUNT, REGION


@pytest.fixture(scope="module")
def functions() -> ChaliceFunctions:
    return ChaliceFunctions(REPOSITORY_ROOT / app for app in ("lease_app", "analytics_app", "batch_app"))


def test_a_deployed_name_gives_its_app_and_stage_though_one_app_name_starts_another(
    functions: ChaliceFunctions,
) -> None:
    # lease_app is shared-lease-platform, batch_app shared-lease-platform-batch: not lease_app at stage "batch".
    assert functions.find("shared-lease-platform-batch-dev-acquire") == ChaliceFunction(
        REPOSITORY_ROOT / "batch_app", "dev", "acquire"
    )
    assert functions.find("shared-lease-platform-analytics-prod-process") == ChaliceFunction(
        REPOSITORY_ROOT / "analytics_app", "prod", "process"
    )


@pytest.mark.parametrize(
    "name",
    [
        "someone-elses-function",
        "shared-lease-platform-batch-dev-unknown",  # no such function in the app
        "shared-lease-platform-batch-acquire",  # no stage
        "shared-lease-platform-dev",  # lease_app's API handler, not a pure Lambda function
    ],
)
def test_a_name_that_is_no_pure_lambda_function_of_the_apps_is_not_found(
    functions: ChaliceFunctions, name: str
) -> None:
    assert functions.find(name) is None


def test_a_function_is_addressed_by_arn_partial_arn_or_name_as_lambda_accepts_it() -> None:
    assert function_address("arn:aws:lambda:eu-west-1:111122223333:function:f:live", region=REGION) == (
        FunctionAddress("111122223333", "eu-west-1", "f")
    )
    assert function_address("111122223333:function:f", region=REGION) == FunctionAddress("111122223333", REGION, "f")
    assert function_address("f", region=REGION) == FunctionAddress(ACCOUNT, REGION, "f")
