"""`check`'s rules on our definitions, on every bad shape the other tests reject, and on one new shape per rule.

Error matching in Retry and Catch (the first rule that names the error, States.ALL or States.TaskFailed;
uncaught errors end the execution; Catch exists on Task, Parallel and Map only):
https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import pytest

from lease_ops.config.platform_config import load_platform_config
from lease_ops.definitions.lease_check import InvalidDefinition, LeaseTaskNames, check_lease_flow
from lease_ops.definitions.workflow_builder import (
    PROCESS_MAY_STILL_RUN_ERRORS,
    LeaseStates,
    lease_fragments,
    work_catch,
)
from lease_ops.provisioning.workflows import render_definition
from tests.helpers import LEASE_FUNCTIONS, arn
from tests.ways_around_the_lease import WAYS_AROUND_THE_LEASE

OWN_FUNCTION = arn("lambda", "function:reports-dev-aggregate")
Mutation = Callable[[dict[str, Any]], None]


def rendered(workload: str, wait_mode: str = "poll") -> dict[str, Any]:
    config = load_platform_config().with_wait_mode(wait_mode)
    return render_definition(config, config.workload(workload), LEASE_FUNCTIONS, "aws")


def findings(definition: dict[str, Any], guarded: str = "Process", **names: tuple[str, ...]) -> list[str]:
    return check_lease_flow(definition, guarded.split(","), LeaseTaskNames(**names)).findings


def own_lambda(next_state: str, *, drains: bool = True) -> dict[str, Any]:
    """A team's own Lambda task, with the Catch the fragments' contract asks for."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": OWN_FUNCTION, "Payload.$": "$"},
        "TimeoutSeconds": 60,
        "Next": next_state,
        "Catch": work_catch(drains=drains),
    }


def spliced(wait_mode: str = "poll") -> dict[str, Any]:
    """A team's definition: its own states before, inside and after the lease states."""
    states = LeaseStates(LEASE_FUNCTIONS, wait_mode=wait_mode)
    return {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Result": {"day": "2027-01-15"}, "ResultPath": "$.report", "Next": "Acquire"},
            **lease_fragments(states, work="Count", after_release="Publish", drain_seconds=60),
            "Count": {"Type": "Pass", "Result": 3, "ResultPath": "$.count", "Next": "Aggregate"},
            "Aggregate": own_lambda("Release"),
            "Publish": {"Type": "Pass", "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }


@pytest.mark.parametrize("wait_mode", ["poll", "handoff"])
@pytest.mark.parametrize("workload", ["analytics", "batch"])
def test_our_rendered_definitions_pass_in_both_wait_modes(workload: str, wait_mode: str) -> None:
    report = check_lease_flow(rendered(workload, wait_mode), ["Process"])

    assert report.findings == []
    assert report.lease_tasks["acquire"] == ["Acquire"]
    assert report.lease_tasks["release"] == ["Release", "ReleaseAfterFailure"]


@pytest.mark.parametrize("wait_mode", ["poll", "handoff"])
def test_a_team_definition_spliced_from_the_fragments_passes(wait_mode: str) -> None:
    assert findings(spliced(wait_mode), "Count,Aggregate") == []


def test_check_of_a_definition_with_two_thousand_states_takes_well_under_a_second() -> None:
    # A user's CI runs it on every commit: the analysis is a fixed point over (state, lease fact) pairs, so
    # it grows with the states, not with their paths. 1,000 own states before the lease and 1,000 inside it.
    definition = spliced()
    states = definition["States"]
    states["Prepare"]["Next"] = "Before0"
    states.update({f"Before{i}": {"Type": "Pass", "Next": f"Before{i + 1}"} for i in range(999)})
    states["Before999"] = {"Type": "Pass", "Next": "Acquire"}
    states["Count"]["Next"] = "Inside0"
    states.update({f"Inside{i}": {"Type": "Pass", "Next": f"Inside{i + 1}"} for i in range(999)})
    states["Inside999"] = {"Type": "Pass", "Next": "Aggregate"}
    guarded = ["Count", "Aggregate", *(f"Inside{i}" for i in range(1000))]

    started = time.perf_counter()
    report = check_lease_flow(definition, guarded)
    elapsed = time.perf_counter() - started

    assert len(states) > 2000 and report.findings == []
    assert elapsed < 1.0, f"{elapsed:.2f} s"


@pytest.mark.parametrize(("name", "mutate"), WAYS_AROUND_THE_LEASE)
def test_every_way_around_the_lease_the_property_check_rejects_fails_the_check_too(name: str, mutate: Mutation) -> None:
    unsafe = copy.deepcopy(rendered("analytics"))
    mutate(unsafe)

    found = findings(unsafe)

    assert any("guarded state 'Process' is reachable without an acquired lease" in line for line in found), found


def _process_safety_shapes() -> list[tuple[str, Mutation, str]]:
    """The shapes tests/unit/test_process_safety_definitions.py and the failure-path test forbid, each broken."""

    def no_retry(name: str) -> Mutation:
        return lambda d: d["States"][name]["Retry"].pop(1)

    def retries_invalid_request(d: dict[str, Any]) -> None:
        d["States"]["Acquire"]["Retry"][0]["MaxAttempts"] = 2

    def process_retried_on_a_timeout(d: dict[str, Any]) -> None:
        d["States"]["Process"]["Retry"][1]["ErrorEquals"].append("States.Timeout")

    def process_retried_on_a_service_exception(d: dict[str, Any]) -> None:
        d["States"]["Process"]["Retry"].append({"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 2})

    def timeout_released_at_once(d: dict[str, Any]) -> None:
        d["States"]["Process"]["Catch"][1]["Next"] = "ReleaseAfterFailure"

    def timeout_acquires_again(d: dict[str, Any]) -> None:
        d["States"]["Process"]["Catch"][1]["Next"] = "Acquire"

    def drain_skipped_to_failed(d: dict[str, Any]) -> None:
        d["States"]["WaitForProcessToStop"]["Next"] = "Failed"

    def lease_lost_runs_process_again(d: dict[str, Any]) -> None:
        d["States"]["Process"]["Catch"][0]["Next"] = "Process"

    def error_to_failed(name: str) -> Mutation:
        return lambda d: d["States"][name]["Catch"][-1].update(Next="Failed")

    return [
        *[
            (f"{name}_does_not_retry_the_store", no_retry(name), "does not retry LeaseStoreUnavailable")
            for name in ("Acquire", "Renew", "Release", "ReleaseAfterFailure")
        ],
        ("acquire_retries_a_bad_request", retries_invalid_request, "retries InvalidLeaseRequest"),
        ("process_retried_on_a_timeout", process_retried_on_a_timeout, "retries States.Timeout"),
        ("process_retried_on_a_service_exception", process_retried_on_a_service_exception, "retries Lambda.Service"),
        ("timeout_released_at_once", timeout_released_at_once, "follows guarded state 'Process', which may still"),
        ("timeout_acquires_again", timeout_acquires_again, "follows guarded state 'Process', which may still"),
        ("drain_skipped_to_failed", drain_skipped_to_failed, "fails at 'Failed' while the lease may still be held"),
        ("lease_lost_runs_process_again", lease_lost_runs_process_again, "'Process'.Catch[0] leads into guarded"),
        *[
            (f"{name}_error_skips_the_release", error_to_failed(name), "may still be held")
            for name in ("Acquire", "Process", "Renew")
        ],
    ]


@pytest.mark.parametrize(("name", "mutate", "expected"), _process_safety_shapes())
def test_every_unsafe_shape_the_process_safety_tests_forbid_fails_the_check(
    name: str, mutate: Mutation, expected: str
) -> None:
    unsafe = copy.deepcopy(rendered("batch"))
    mutate(unsafe)

    found = findings(unsafe)

    assert any(expected in line for line in found), found


# -- one new shape per rule ----------------------------------------------------------------------------


def test_a_shortcut_around_acquire_on_the_input_is_reported_with_its_path() -> None:
    definition = spliced()
    definition["StartAt"] = "Urgent"
    definition["States"]["Urgent"] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.urgent", "BooleanEquals": True, "Next": "Count"}],
        "Default": "Prepare",
    }

    assert findings(definition, "Count,Aggregate") == [
        "guarded state 'Count' is reachable without an acquired lease (no lease taken): Urgent -Choices[0]-> Count",
        "guarded state 'Aggregate' is reachable without an acquired lease (no lease taken): "
        "Urgent -Choices[0]-> Count -> Aggregate",
    ]


def test_an_answer_overwritten_before_the_lease_check_is_not_a_lease() -> None:
    definition = spliced()
    definition["States"]["Acquire"]["Next"] = "Stamp"
    definition["States"]["Stamp"] = {
        "Type": "Pass",
        "Result": {"status": "acquired"},
        "ResultPath": "$.lease",
        "Next": "CheckLease",
    }

    found = findings(definition, "Count,Aggregate")

    assert found[0] == (
        "guarded state 'Count' is reachable without an acquired lease (perhaps lost or never granted: an error or "
        "an unread answer on the way): Prepare -> Acquire -> Stamp -> CheckLease -Choices[0]-> Count"
    )


def test_an_answer_kept_by_a_state_that_writes_elsewhere_is_still_read() -> None:
    definition = spliced()
    definition["States"]["Acquire"]["Next"] = "Note"
    definition["States"]["Note"] = {"Type": "Pass", "Result": "asked", "ResultPath": "$.note", "Next": "CheckLease"}

    assert findings(definition, "Count,Aggregate") == []


def test_a_timeout_nobody_catches_ends_the_execution_with_the_lease() -> None:
    definition = spliced()
    definition["States"]["Aggregate"]["Catch"] = [
        {"ErrorEquals": ["ReportInvalid"], "ResultPath": "$.error", "Next": "ReleaseAfterFailure"}
    ]

    assert findings(definition, "Count,Aggregate") == [
        "an error 'Aggregate' does not catch (no States.ALL) fails the execution while the lease may still be held, "
        "with no release on the way: Prepare -> Acquire -> CheckLease -Choices[0]-> Count -> Aggregate"
    ]


def test_work_that_ends_the_execution_itself_leaves_the_lease_held() -> None:
    definition = spliced()
    definition["States"]["Count"] = {"Type": "Pass", "End": True}

    assert findings(definition, "Count") == [
        "the execution ends after 'Count' (End) while the lease may still be held, with no release on the way: "
        "Prepare -> Acquire -> CheckLease -Choices[0]-> Count"
    ]


def test_a_lease_check_without_default_fails_with_the_answer_unread() -> None:
    definition = spliced()
    definition["States"]["CheckLease"]["Choices"] = [
        {"Variable": "$.lease.status", "StringEquals": "wait", "Next": "WaitForLease"},
        {"Variable": "$.lease.detail.holder", "IsPresent": True, "Next": "Count"},
    ]
    del definition["States"]["CheckLease"]["Default"]

    found = findings(definition, "Count,Aggregate")

    assert found[0] == (
        "Choice 'CheckLease' matching no rule (no Default) fails the execution while the lease may still be held, "
        "with no release on the way: Prepare -> Acquire -> CheckLease"
    )
    assert found[1] == (
        "guarded state 'Count' is reachable without an acquired lease (Acquire's answer is not tested for "
        "'acquired' on the way): Prepare -> Acquire -> CheckLease -Choices[1]-> Count"
    )


def test_a_lease_task_whose_retry_catches_everything_retries_a_bad_request() -> None:
    definition = spliced()
    definition["States"]["Release"]["Retry"] = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}]
    definition["States"]["Acquire"]["Retry"] = [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 0}]

    assert findings(definition, "Count,Aggregate") == [
        "lease task 'Acquire' (acquire) does not retry LeaseStoreUnavailable (Retry[0] gives it MaxAttempts 0): "
        "a short store outage would fail the execution",
        "lease task 'Release' (release) retries InvalidLeaseRequest (Retry[0]): a bad request fails the same way "
        "every time; put a retrier with MaxAttempts 0 for it first",
    ]


def test_a_users_lambda_without_the_drain_releases_while_it_may_still_run() -> None:
    definition = spliced()
    definition["States"]["Aggregate"] = own_lambda("Release", drains=False)

    assert findings(definition, "Count,Aggregate") == [
        "lease task 'ReleaseAfterFailure' (release) follows guarded state 'Aggregate', which may still be running "
        "(it timed out, or its invoke failed without saying it stopped), with no Wait on the way: "
        "Prepare -> Acquire -> CheckLease -Choices[0]-> Count -> Aggregate -Catch[0]-> ReleaseAfterFailure"
    ]


# -- Parallel and Map ----------------------------------------------------------------------------------


def per_item(map_body: dict[str, Any], *, mode: str = "INLINE") -> dict[str, Any]:
    return {
        "StartAt": "PerItem",
        "States": {
            "PerItem": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {
                    "item.$": "$$.Map.Item.Value",
                    "holder.$": "States.Format('{}/{}', $$.Execution.Id, $$.Map.Item.Index)",
                },
                "ItemProcessor": {"ProcessorConfig": {"Mode": mode}, **map_body},
                "End": True,
            }
        },
    }


def iteration(holder: dict[str, str] | None = None) -> dict[str, Any]:
    """The fragments around a Pass, each lease task naming the iteration's own holder."""
    lease = lease_fragments(LeaseStates(LEASE_FUNCTIONS), work="Work", drain_seconds=None)
    for state in lease.values():
        if "Parameters" in state:
            state["Parameters"]["Payload"] = holder or {"holder.$": "$.holder"}
    return {
        "StartAt": "Acquire",
        "States": {**lease, "Work": {"Type": "Pass", "Next": "Release"}},
    }


def test_a_lease_taken_in_each_map_iteration_with_its_own_holder_passes() -> None:
    assert findings(per_item(iteration()), "Work") == []


def test_an_iteration_that_ends_without_its_release_is_reported_inside_the_map() -> None:
    body = iteration()
    body["States"]["Work"] = {"Type": "Pass", "End": True}

    assert findings(per_item(body), "Work") == [
        "in 'PerItem'.ItemProcessor: the iteration ends after 'Work' (End) while the lease may still be held, with "
        "no release on the way: Acquire -> CheckLease -Choices[0]-> Work"
    ]


def test_iterations_that_acquire_as_the_execution_would_share_one_lease() -> None:
    shared = {"holder.$": "States.Format('{}#{}', $$.Execution.Id, $$.Execution.RedriveCount)"}

    assert findings(per_item(iteration(shared)), "Work") == [
        "in 'PerItem'.ItemProcessor: lease task 'Acquire' takes the execution as its holder inside the inline Map "
        "'PerItem': its iterations would share one lease (one slot); give each iteration a holder of its own "
        "(e.g. through ItemSelector, with $$.Map.Item.Index)"
    ]
    assert findings(per_item(iteration(shared), mode="DISTRIBUTED"), "Work") == []  # each child is an execution


def test_guarded_work_in_a_map_needs_a_lease_held_around_it_or_taken_inside() -> None:
    unguarded = per_item({"StartAt": "Work", "States": {"Work": {"Type": "Pass", "End": True}}})
    around = spliced()
    around["States"]["Count"] = {
        **unguarded["States"]["PerItem"],
        "Next": "Aggregate",
        "Catch": work_catch(drains=False),
    }
    del around["States"]["Count"]["End"]

    assert findings(unguarded, "Work")[1:] == [
        "in 'PerItem'.ItemProcessor: guarded state 'Work' is reachable without an acquired lease (no lease taken): Work"
    ]
    around["States"]["Count"]["MaxConcurrency"] = 1  # one iteration at a time: one copy of the work on the slot
    assert findings(around, "Work,Aggregate") == []


def held_around_the_map(max_concurrency: int | None) -> dict[str, Any]:
    """The spliced definition whose work is an inline Map of guarded iterations, under the lease taken before it."""
    definition = spliced()
    body = {"StartAt": "Work", "States": {"Work": {"Type": "Pass", "End": True}}}
    definition["States"]["Count"] = {
        **per_item(body)["States"]["PerItem"],
        "Next": "Aggregate",
        "Catch": work_catch(drains=False),
    }
    del definition["States"]["Count"]["End"]
    if max_concurrency is not None:
        definition["States"]["Count"]["MaxConcurrency"] = max_concurrency
    return definition


@pytest.mark.parametrize("max_concurrency", [None, 0, 5])
def test_a_lease_held_around_a_concurrent_map_does_not_cover_its_iterations(max_concurrency: int | None) -> None:
    found = findings(held_around_the_map(max_concurrency), "Work,Aggregate")

    assert found == [
        "in 'Count'.ItemProcessor: guarded state 'Work' runs under the lease held around the Map 'Count', whose "
        "iterations may run at once (no MaxConcurrency 1): several copies of the work would share one slot; take the "
        "lease inside each iteration, or set MaxConcurrency to 1: Work"
    ]


def parallel(*branches: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "Parallel", "Branches": list(branches), "Next": "Aggregate", "Catch": work_catch(drains=False)}


def test_a_release_inside_a_branch_of_a_lease_held_around_it_is_reported_and_the_work_after_it() -> None:
    definition = spliced()
    branch = {
        "StartAt": "ReleaseEarly",
        "States": {
            "ReleaseEarly": {**definition["States"]["Release"], "Next": "Work", "Catch": []},
            "Work": {"Type": "Pass", "End": True},
        },
    }
    definition["States"]["Count"] = parallel(branch)

    found = findings(definition, "Work,Aggregate")

    assert found == [
        "in 'Count'.Branches[0]: lease task 'ReleaseEarly' (release) gives back the lease held around the Parallel "
        "'Count' from inside it: what follows there, and after it, runs without the lease: ReleaseEarly",
        "in 'Count'.Branches[0]: guarded state 'Work' is reachable without an acquired lease (no lease taken): "
        "ReleaseEarly -> Work",
    ]


def test_parallel_branches_that_acquire_as_the_execution_would_share_one_lease() -> None:
    execution = {"holder.$": "$$.Execution.Id"}
    definition = {
        "StartAt": "Both",
        "States": {"Both": {"Type": "Parallel", "Branches": [iteration(execution), iteration(execution)], "End": True}},
    }

    found = findings(definition, "Work")

    assert found == [
        f"in 'Both'.Branches[{index}]: lease task 'Acquire' takes the execution alone as its holder inside the "
        "Parallel 'Both': its branches would share one lease (one slot); give each branch a holder of its own "
        "(e.g. States.Format('{}/left', $$.Execution.Id))"
        for index in (0, 1)
    ]
    own = copy.deepcopy(definition)
    for index, side in enumerate(("left", "right")):
        for state in own["States"]["Both"]["Branches"][index]["States"].values():
            if "Parameters" in state:
                state["Parameters"]["Payload"] = {"holder.$": f"States.Format('{{}}/{side}', $$.Execution.Id)"}
    assert findings(own, "Work") == []


def test_a_lease_held_around_a_parallel_covers_one_branch_of_guarded_work_only() -> None:
    definition = spliced()
    work = {"StartAt": "Work", "States": {"Work": {"Type": "Pass", "End": True}}}
    other = {"StartAt": "Other", "States": {"Other": {"Type": "Pass", "End": True}}}
    definition["States"]["Count"] = parallel(work, other)
    twice = copy.deepcopy(definition)
    twice["States"]["Count"]["Branches"][1] = {"StartAt": "Again", "States": {"Again": {"Type": "Pass", "End": True}}}

    assert findings(definition, "Work,Aggregate") == []
    assert findings(twice, "Work,Again,Aggregate") == [
        f"in 'Count'.Branches[{index}]: guarded state '{name}' runs under the lease held around the Parallel 'Count', "
        "whose branches run at once (2 of them reach guarded states): several copies of the work would share one "
        f"slot; take a lease in each branch, or guard one branch only: {name}"
        for index, name in ((0, "Work"), (1, "Again"))
    ]


def test_a_parallel_branch_may_take_and_give_back_its_own_lease() -> None:
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [iteration(), {"StartAt": "Idle", "States": {"Idle": {"Type": "Pass", "End": True}}}],
                "End": True,
            }
        },
    }
    leaky = copy.deepcopy(definition)
    leaky["States"]["Both"]["Branches"][0]["States"]["Work"]["Next"] = "Complete"

    assert findings(definition, "Work") == []
    assert findings(leaky, "Work") == [
        "in 'Both'.Branches[0]: the branch succeeds at 'Complete' while the lease may still be held, with no "
        "release on the way: Acquire -> CheckLease -Choices[0]-> Work -> Complete"
    ]


# -- reading Choice rules and lease tasks --------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "guarded_is_safe"),
    [
        (
            {
                "And": [
                    {"Variable": "$.lease.status", "StringEquals": "acquired"},
                    {"Variable": "$.x", "IsPresent": True},
                ]
            },
            True,
        ),
        (
            {
                "Or": [
                    {"Variable": "$.lease.status", "StringEquals": "acquired"},
                    {"Variable": "$.x", "IsPresent": True},
                ]
            },
            False,
        ),
        ({"Not": {"Variable": "$.lease.status", "StringEquals": "wait"}}, False),
        ({"Not": {"Not": {"Variable": "$.lease.status", "StringEquals": "acquired"}}}, True),
        ({"Variable": "$.lease.status", "StringMatches": "acq*"}, False),
    ],
)
def test_only_a_rule_that_implies_acquired_leads_to_the_work_with_a_lease(
    rule: dict[str, Any], guarded_is_safe: bool
) -> None:
    definition = spliced()
    definition["States"]["CheckLease"]["Choices"][0] = {**rule, "Next": "Count"}

    found = [line for line in findings(definition, "Count,Aggregate") if "is reachable without" in line]

    assert (found == []) == guarded_is_safe, found


def test_lease_tasks_are_found_by_the_function_they_invoke_or_the_names_given() -> None:
    definition = spliced()
    for state in definition["States"].values():
        if "Parameters" in state and "FunctionName" in state["Parameters"]:
            state["Parameters"]["FunctionName"] = state["Parameters"]["FunctionName"].replace(
                "app-dev-", "app-dev-lease"
            )

    assert findings(definition, "Count,Aggregate")[0].startswith("no lease task found")
    named = {"acquire": ("*-leaseacquire",), "release": ("*-leaserelease",)}
    assert findings(definition, "Count,Aggregate", **named) == []


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ([], "a state machine definition is a JSON object with StartAt and States"),
        ({"StartAt": "A", "States": {}}, "the definition has no States object"),
        ({"StartAt": "B", "States": {"A": {"Type": "Succeed"}}}, "StartAt 'B' is not one of its states"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}, "'A'.Next 'B' is not a state of its scope"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}, "state 'A' has neither Next nor End"),
        ({"StartAt": "A", "States": {"A": {"Type": "Sleep"}}}, "state 'A' has no known Type"),
        ({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}, "JSONata"),
        ({"StartAt": "A", "States": {"A": {"Type": ["Pass"]}}}, "state 'A' has no known Type"),
        (
            {
                "StartAt": "A",
                "States": {"A": {"Type": "Task", "End": True, "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": "3"}]}},
            },
            "'A'.Retry is not a list of rules with ErrorEquals",
        ),
        ({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}, "--guarded names no state of the definition: Work"),
    ],
)
def test_a_definition_it_cannot_read_is_an_error_not_a_finding(definition: Any, message: str) -> None:
    with pytest.raises(InvalidDefinition, match=message.replace("[", r"\[").replace("(", r"\(")):
        check_lease_flow(definition, ["Work"])


def test_odd_but_valid_json_in_a_state_is_read_not_a_crash() -> None:
    definition = spliced()
    definition["States"]["Aggregate"]["Parameters"] = ["not", "an", "object"]
    definition["States"]["CheckLease"]["Choices"][0] = {"And": ["not a rule"], "Next": "Count"}

    assert "Acquire's answer is not tested for 'acquired'" in findings(definition, "Count,Aggregate")[0]


def test_the_drain_catch_covers_every_error_that_leaves_work_running() -> None:
    assert work_catch(drains=True)[0]["ErrorEquals"] == PROCESS_MAY_STILL_RUN_ERRORS
