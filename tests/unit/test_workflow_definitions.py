"""The rendered state machines: their states, retry and catch policies, and the no-lease-no-process property."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lease_ops.config.platform_config import load_platform_config
from lease_ops.definitions.history_quota import wait_range
from lease_ops.definitions.workflow_builder import (
    HOLDER,
    INVOKE_OUTCOME_UNKNOWN_ERRORS,
    POLL_WAIT_STATES,
    WAIT_LADDER,
    LeaseStates,
    lease_guarded_definition,
)
from lease_ops.definitions.workflow_graph import UnsafeWorkflow, assert_process_needs_a_lease, reachable
from lease_ops.local_runner.choice import matches
from lease_ops.provisioning.workflows import invoked_functions, render_definition
from tests.helpers import LEASE_FUNCTIONS
from tests.ways_around_the_lease import WAYS_AROUND_THE_LEASE


def definition(workload: str) -> dict[str, Any]:
    config = load_platform_config()
    return render_definition(config, config.workload(workload), LEASE_FUNCTIONS, "aws")


def tasks(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in states.items() if state["Type"] == "Task"}


@pytest.mark.parametrize("workload", ["analytics", "batch"])
def test_the_workflow_runs_acquire_check_wait_process_release_complete(workload: str) -> None:
    states = definition(workload)["States"]

    assert {"Acquire", "CheckLease", "WaitForLease", "Process", "Release", "Complete"} <= set(states)
    payload = dict(states["Acquire"]["Parameters"]["Payload"])
    assert payload.pop("waiting_since.$") == "$$.Execution.StartTime"
    assert payload == HOLDER
    assert states["Acquire"]["Next"] == "CheckLease"
    assert states["WaitForLease"] == {**states["WaitForLease"], "Type": "Wait", "Next": "Acquire"}
    assert states["Release"]["Next"] == "Complete"
    assert states["Complete"] == {"Type": "Succeed"}


def test_each_workload_waits_as_long_as_platform_toml_says() -> None:
    assert definition("analytics")["States"]["WaitForLease"]["Seconds"] == 5
    assert definition("batch")["States"]["WaitForLease"]["Seconds"] == 10


def route_of_a_wait_answer(states: dict[str, Any], **detail: Any) -> str:
    """Where CheckLease sends {"status": "wait", **detail}, by the local runner's Choice rules."""
    lease = {"status": "wait", "detail": {"status": "wait", "active": 5, "cap": 5, **detail}}
    check = states["CheckLease"]
    return next((rule["Next"] for rule in check["Choices"] if matches(rule, {"lease": lease}, {})), check["Default"])


@pytest.mark.parametrize("workload", ["analytics", "batch"])
def test_a_wait_answer_goes_to_a_longer_wait_the_longer_the_execution_has_waited(workload: str) -> None:
    states = definition(workload)["States"]
    waited = (0, 299, 300, 1799, 1800, 14399, 14400, 7 * 86400)
    waits = {seconds: route_of_a_wait_answer(states, waited=seconds) for seconds in waited}

    assert waits == {
        0: "WaitForLease",
        299: "WaitForLease",
        300: "WaitForLeaseAfter5Minutes",
        1799: "WaitForLeaseAfter5Minutes",
        1800: "WaitForLeaseAfter30Minutes",
        14399: "WaitForLeaseAfter30Minutes",
        14400: "WaitForLeaseAfter4Hours",
        7 * 86400: "WaitForLeaseAfter4Hours",
    }
    assert states["WaitForLease"]["Seconds"] < 30
    # Each rung's wait is drawn at every poll from its seconds to half as long again (phases spread out).
    assert [wait_range(states[rung.state], states["Acquire"]) for rung in WAIT_LADDER] == [
        (30, 45),
        (120, 180),
        (600, 900),
    ]
    for name in POLL_WAIT_STATES:
        assert states[name] == {**states[name], "Type": "Wait", "Next": "Acquire"}, name


@pytest.mark.parametrize("workload", ["analytics", "batch"])
def test_a_wait_answer_without_waited_always_goes_to_wait_for_lease(workload: str) -> None:
    assert route_of_a_wait_answer(definition(workload)["States"]) == "WaitForLease"


def test_no_rung_waits_less_than_the_configured_wait_seconds() -> None:
    import dataclasses

    config = load_platform_config()
    slow = dataclasses.replace(config.workload("analytics"), wait_seconds=300)
    states = render_definition(config, slow, LEASE_FUNCTIONS, "aws")["States"]

    assert {name: wait_range(states[name], states["Acquire"]) for name in POLL_WAIT_STATES} == {
        "WaitForLease": (300, 300),
        "WaitForLeaseAfter5Minutes": (300, 450),
        "WaitForLeaseAfter30Minutes": (300, 450),
        "WaitForLeaseAfter4Hours": (600, 900),
    }


@pytest.mark.parametrize("workload", ["analytics", "batch"])
def test_store_and_lambda_service_errors_are_retried_with_backoff_and_jitter(workload: str) -> None:
    for name, state in tasks(definition(workload)["States"]).items():
        transient = [r for r in state["Retry"] if "LeaseStoreUnavailable" in r["ErrorEquals"]]
        assert len(transient) == 1, name
        assert transient[0]["BackoffRate"] > 1 and transient[0]["JitterStrategy"] == "FULL", name
        # Process is not retried on a Lambda error that may leave it running (tests/unit/test_process_safety_...).
        assert ("Lambda.ServiceException" in transient[0]["ErrorEquals"]) == (name != "Process"), name


@pytest.mark.parametrize("workload", ["analytics", "batch"])
def test_both_release_states_ride_out_a_longer_store_outage_than_the_other_tasks(workload: str) -> None:
    def transient_retrier(state: dict[str, Any]) -> dict[str, Any]:
        return next(r for r in state["Retry"] if "LeaseStoreUnavailable" in r["ErrorEquals"])

    def longest_backoff(retrier: dict[str, Any]) -> float:
        delays = [retrier["IntervalSeconds"] * retrier["BackoffRate"] ** n for n in range(retrier["MaxAttempts"])]
        return sum(min(delay, retrier["MaxDelaySeconds"]) for delay in delays)

    states = tasks(definition(workload)["States"])
    releases = {name: transient_retrier(states[name]) for name in ("Release", "ReleaseAfterFailure")}
    others = [transient_retrier(state) for name, state in states.items() if name not in releases]
    assert others and all(longest_backoff(r) == 51 for r in others)
    assert all(longest_backoff(r) == 131 for r in releases.values()), releases


@pytest.mark.parametrize("workload", ["analytics", "batch"])
def test_invalid_lease_request_and_lease_lost_are_never_retried(workload: str) -> None:
    for name, state in tasks(definition(workload)["States"]).items():
        first = state["Retry"][0]
        assert first == {"ErrorEquals": ["InvalidLeaseRequest", "LeaseLost"], "MaxAttempts": 0}, name


@pytest.mark.parametrize("workload", ["analytics", "batch"])
def test_every_error_after_acquire_goes_through_release_to_a_fail_with_the_original_error(workload: str) -> None:
    states = definition(workload)["States"]
    for name in ("Acquire", "Process", *(["Renew"] if workload == "batch" else [])):
        catch_all = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ReleaseAfterFailure"}
        assert states[name]["Catch"][-1] == catch_all
    release = states["ReleaseAfterFailure"]
    assert release["Parameters"]["FunctionName"] == LEASE_FUNCTIONS.release
    assert release["Next"] == "Failed" and release["Catch"][0]["ResultPath"] == "$.releaseError"
    assert states["Failed"] == {
        **states["Failed"],
        "Type": "Fail",
        "ErrorPath": "$.error.Error",
        "CausePath": "$.error.Cause",
    }
    assert states["CheckLease"]["Default"] == "LeaseStatusUnknown"
    assert states["LeaseStatusUnknown"]["Next"] == "ReleaseAfterFailure"


@pytest.mark.parametrize(("workload", "lambda_timeout"), [("analytics", 120), ("batch", 300)])
def test_a_process_timeout_keeps_the_lease_as_long_as_the_lambda_may_still_run(
    workload: str, lambda_timeout: int
) -> None:
    states = definition(workload)["States"]

    assert states["Process"]["TimeoutSeconds"] == lambda_timeout + 10
    assert states["Process"]["Catch"][1] == {
        "ErrorEquals": ["States.Timeout", *INVOKE_OUTCOME_UNKNOWN_ERRORS],
        "ResultPath": "$.error",
        "Next": "WaitForProcessToStop",
    }
    assert states["WaitForProcessToStop"]["Type"] == "Wait"
    assert states["WaitForProcessToStop"]["Seconds"] == lambda_timeout
    assert states["WaitForProcessToStop"]["Next"] == "ReleaseAfterFailure"


def test_batch_renews_its_lease_between_chunks_and_analytics_does_not() -> None:
    batch = definition("batch")["States"]
    assert batch["Process"]["Next"] == "MoreChunks"
    assert batch["MoreChunks"]["Default"] == "Renew"
    assert batch["MoreChunks"]["Choices"] == [{"Variable": "$.progress.done", "BooleanEquals": True, "Next": "Release"}]
    assert batch["Renew"]["Next"] == "Process"
    assert batch["Process"]["Parameters"]["Payload"]["chunk_size"] == 25
    assert "Renew" not in definition("analytics")["States"]


def test_each_workflow_invokes_only_the_functions_it_needs() -> None:
    assert invoked_functions(definition("analytics")) == sorted(
        [LEASE_FUNCTIONS.acquire, LEASE_FUNCTIONS.release, LEASE_FUNCTIONS.process]
    )
    assert invoked_functions(definition("batch")) == sorted(
        [LEASE_FUNCTIONS.acquire, LEASE_FUNCTIONS.release, LEASE_FUNCTIONS.renew, LEASE_FUNCTIONS.process]
    )


@pytest.mark.parametrize("workload", ["analytics", "batch"])
def test_no_path_reaches_process_without_an_acquired_lease(workload: str) -> None:
    rendered = definition(workload)

    assert_process_needs_a_lease(rendered)
    assert "Process" in reachable(rendered)
    assert "Process" not in reachable(rendered, without={("CheckLease", "Process")})


@pytest.mark.parametrize(("name", "mutate"), WAYS_AROUND_THE_LEASE)
def test_the_property_check_rejects_a_definition_with_a_way_around_the_lease(name: str, mutate: Any) -> None:
    unsafe = copy.deepcopy(definition("analytics"))
    mutate(unsafe)

    with pytest.raises(UnsafeWorkflow):
        assert_process_needs_a_lease(unsafe)


def test_a_users_own_process_state_is_wrapped_in_the_same_lease() -> None:
    own_process = {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync", "Parameters": {"Cluster": "etl"}}

    wrapped = lease_guarded_definition(LeaseStates(LEASE_FUNCTIONS), own_process, comment="ETL under a lease")

    assert wrapped["States"]["Process"]["Resource"] == "arn:aws:states:::ecs:runTask.sync"
    assert wrapped["States"]["Process"]["Next"] == "Release"
    assert [rule["Next"] for rule in wrapped["States"]["Process"]["Catch"]] == ["Acquire", "ReleaseAfterFailure"]
    assert_process_needs_a_lease(wrapped)


def handoff_definition(workload: str, recheck_seconds: int = 300) -> dict[str, Any]:
    import dataclasses

    config = load_platform_config()
    queued = dataclasses.replace(config.workload(workload), wait_mode="handoff", recheck_seconds=recheck_seconds)
    return render_definition(config, queued, LEASE_FUNCTIONS, "aws")


@pytest.mark.parametrize("workload", ["analytics", "batch"])
def test_in_handoff_mode_acquire_waits_for_its_slot_as_a_callback_and_nothing_polls(workload: str) -> None:
    states = handoff_definition(workload, recheck_seconds=120)["States"]
    acquire = states["Acquire"]

    assert acquire["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert acquire["Parameters"]["Payload"] == {**HOLDER, "task_token.$": "$$.Task.Token"}
    assert acquire["TimeoutSeconds"] == 120
    assert acquire["Catch"][0] == {"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": "Acquire"}
    assert "WaitForLease" not in states
    assert [name for name, state in states.items() if state["Type"] == "Wait" and state["Next"] == "Acquire"] == []
    assert [choice["StringEquals"] for choice in states["CheckLease"]["Choices"]] == ["acquired"]


@pytest.mark.parametrize("workload", ["analytics", "batch"])
def test_no_path_reaches_process_without_an_acquired_lease_in_handoff_mode_either(workload: str) -> None:
    rendered = handoff_definition(workload)

    assert_process_needs_a_lease(rendered)
    assert "Process" not in reachable(rendered, without={("CheckLease", "Process")})


def test_a_wait_mode_other_than_poll_or_handoff_is_refused() -> None:
    with pytest.raises(ValueError, match="poll or handoff"):
        LeaseStates(LEASE_FUNCTIONS, wait_mode="push")
