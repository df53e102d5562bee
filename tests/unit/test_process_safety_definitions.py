"""The rendered definitions never let Process work without its run's lease, whatever the Invoke call answers.

Step Functions' Lambda errors that do not mean the function stopped (a synchronous invocation runs on after
its caller gave up): https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
and https://docs.aws.amazon.com/lambda/latest/dg/invocation-retries.html. Redrive restarts at the state that
did not succeed: https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from lease_ops.config.platform_config import load_platform_config
from lease_ops.definitions.workflow_builder import HOLDER_ID, INVOKE_OUTCOME_UNKNOWN_ERRORS
from lease_ops.errors import PlatformConfigError
from lease_ops.provisioning.workflows import process_lambda_timeout, render_definition
from tests.helpers import LEASE_FUNCTIONS

WORKLOADS = ["analytics", "batch"]
WAIT_MODES = ["poll", "handoff"]
MAY_STILL_RUN = ["States.Timeout", *INVOKE_OUTCOME_UNKNOWN_ERRORS]
ISSUE_NAMED = ["Lambda.ClientExecutionTimeoutException", "Lambda.SdkClientException", "Lambda.ServiceException"]


def states_of(workload: str, wait_mode: str = "poll") -> dict[str, Any]:
    config = load_platform_config().with_wait_mode(wait_mode)
    return render_definition(config, config.workload(workload), LEASE_FUNCTIONS, "aws")["States"]


def first_catch(state: dict[str, Any], error: str) -> dict[str, Any]:
    """The Catch rule Step Functions applies to ``error``: the first whose ErrorEquals names it or States.ALL."""
    return next(rule for rule in state["Catch"] if error in rule["ErrorEquals"] or "States.ALL" in rule["ErrorEquals"])


def retried(state: dict[str, Any], error: str) -> bool:
    rule = next(
        (
            rule
            for rule in state.get("Retry", [])
            if error in rule["ErrorEquals"] or "States.ALL" in rule["ErrorEquals"]
        ),
        None,
    )
    return rule is not None and rule.get("MaxAttempts", 3) > 0


@pytest.mark.parametrize("wait_mode", WAIT_MODES)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_lease_task_and_process_name_the_same_holder_the_execution_and_its_run(
    workload: str, wait_mode: str
) -> None:
    states = states_of(workload, wait_mode)
    holders = {
        name: state["Parameters"]["Payload"].get("holder.$", state["Parameters"]["Payload"].get("lease_holder.$"))
        for name, state in states.items()
        if state["Type"] == "Task"
    }
    assert HOLDER_ID == "States.Format('{}#{}', $$.Execution.Id, $$.Execution.RedriveCount)"
    assert set(holders.values()) == {HOLDER_ID}, holders


@pytest.mark.parametrize("wait_mode", WAIT_MODES)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_process_that_finds_no_lease_of_its_run_goes_back_to_acquire_like_a_new_execution(
    workload: str, wait_mode: str
) -> None:
    process = states_of(workload, wait_mode)["Process"]
    assert first_catch(process, "LeaseLost") == {"ErrorEquals": ["LeaseLost"], "ResultPath": None, "Next": "Acquire"}
    assert not retried(process, "LeaseLost")


@pytest.mark.parametrize("error", MAY_STILL_RUN)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_a_process_error_that_does_not_prove_the_function_ended_keeps_the_lease_until_its_timeout(
    workload: str, error: str
) -> None:
    states = states_of(workload)
    process = states["Process"]

    assert not retried(process, error), f"{error} may leave the first invocation running: no second one"
    rule = first_catch(process, error)
    assert rule["Next"] == "WaitForProcessToStop"
    drain = states["WaitForProcessToStop"]
    config = load_platform_config()
    assert drain["Seconds"] >= process_lambda_timeout(config.workload(workload), config.stage)
    assert drain["Next"] == "ReleaseAfterFailure"


@pytest.mark.parametrize("workload", WORKLOADS)
def test_process_is_retried_only_when_it_cannot_have_started_work(workload: str) -> None:
    process = states_of(workload)["Process"]
    retried_errors = {
        error for rule in process["Retry"] if rule.get("MaxAttempts", 3) > 0 for error in rule["ErrorEquals"]
    }
    assert retried_errors == {"Lambda.TooManyRequestsException", "LeaseStoreUnavailable"}


@pytest.mark.parametrize("error", [*ISSUE_NAMED, "Lambda.Unknown", "LeaseStoreUnavailable"])
@pytest.mark.parametrize("wait_mode", WAIT_MODES)
def test_the_lease_tasks_retry_every_invoke_error_since_they_are_idempotent(error: str, wait_mode: str) -> None:
    states = states_of("batch", wait_mode)
    for name in ("Acquire", "Renew", "Release", "ReleaseAfterFailure"):
        assert retried(states[name], error), f"{name} does not retry {error}"


def test_a_ttl_shorter_than_the_process_timeout_is_refused_when_rendering(tmp_path: Any) -> None:
    config = load_platform_config()
    workload = config.workload("analytics")
    chalice = copy.deepcopy(workload.chalice_config())
    chalice["stages"][config.stage]["environment_variables"]["LEASE_TTL_SECONDS"] = "100"
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(chalice))
    short_lived = copy.copy(workload)
    object.__setattr__(short_lived, "app_dir", tmp_path)

    with pytest.raises(PlatformConfigError, match="LEASE_TTL_SECONDS is 100"):
        render_definition(config, short_lived, LEASE_FUNCTIONS, "aws")
