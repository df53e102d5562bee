"""RedriveExecution in the local runner, as Step Functions documents it.

https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html: a FAILED, ABORTED or
TIMED_OUT Standard execution is restarted, same ARN and definition, at the state that did not succeed
with the input that state got; states that succeeded are not rerun; the retry count of a redriven state
starts again at 0; a Fail state is re-entered and fails again.
https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html: RedriveCount is in
the context object, RedriveTime only after a redrive.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from moto.stepfunctions.exceptions import ExecutionDoesNotExist

from lease_ops.local_runner import (
    ExecutionNotRedrivable,
    FakeTimer,
    LocalExecutions,
    LocalRunner,
    RunningExecution,
    ScaledTimer,
    StatesError,
    TaskContext,
    status_change_event,
)
from tests.helpers import ACCOUNT, REGION, arn

MACHINE = arn("states", "stateMachine:redrive-demo")
FUNCTION = arn("lambda", "function:demo-dev-")


class Functions:
    """Each Task calls the function named after its state; a step is a value, an exception or a callable."""

    def __init__(self, **steps: list[Any]) -> None:
        self.steps = steps
        self.calls: list[tuple[str, Any, TaskContext]] = []
        self._lock = threading.Lock()

    def invoke(self, function: str, payload: Any, context: TaskContext) -> Any:
        name = function.rsplit("-", 1)[-1]
        with self._lock:
            self.calls.append((name, payload, context))
            steps = self.steps[name]
            step = steps.pop(0) if len(steps) > 1 else steps[0]
        if isinstance(step, BaseException):
            raise step
        return step(payload) if callable(step) else step

    def of(self, name: str) -> list[tuple[Any, TaskContext]]:
        return [(payload, context) for called, payload, context in self.calls if called == name]


def task(name: str, **fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": FUNCTION + name, **fields}


def runner_for(functions: Functions, timer: Any = None, **options: Any) -> LocalRunner:
    return LocalRunner(functions, timer=timer or FakeTimer(), seed=1, executions=LocalExecutions(), **options)


def start(runner: LocalRunner, states: dict[str, Any], execution_input: Any, name: str) -> RunningExecution:
    return runner.start(MACHINE, {"StartAt": next(iter(states)), "States": states}, execution_input, name=name)


def entered_after_redrive(history: list[Any]) -> list[str | None]:
    redriven = max(i for i, event in enumerate(history) if event.type == "ExecutionRedriven")
    return [event.state for event in history[redriven:] if event.type == "StateEntered"]


def wait_for(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


# -- where a redrive continues ---------------------------------------------------------------------


def test_a_failed_execution_is_redriven_at_the_failed_state_with_the_input_that_state_got() -> None:
    functions = Functions(Prepare=[{"prepared": True}], Work=[StatesError("Boom", "down"), "worked"])
    states = {
        "Prepare": task("Prepare", ResultPath="$.prep", Next="Work"),
        "Work": task("Work", ResultPath="$.work", Next="Done"),
        "Done": {"Type": "Succeed"},
    }
    runner = runner_for(functions)
    first = start(runner, states, {"job": 7}, "failed-at-work").wait(5)

    redriven = runner.redrive(first.arn).wait(5)

    assert (first.status, first.error) == ("FAILED", "Boom")
    assert (redriven.arn, redriven.status) == (first.arn, "SUCCEEDED")
    assert [payload for payload, _ in functions.of("Work")] == [{"job": 7, "prep": {"prepared": True}}] * 2
    assert redriven.output == {"job": 7, "prep": {"prepared": True}, "work": "worked"}
    assert entered_after_redrive(redriven.history) == ["Work", "Done"]


def test_states_that_succeeded_are_not_run_again_when_an_execution_is_redriven() -> None:
    functions = Functions(First=["one"], Second=["two"], Third=[StatesError("Boom"), "three"])
    states = {
        "First": task("First", ResultPath="$.first", Next="Second"),
        "Second": task("Second", ResultPath="$.second", Next="Third"),
        "Third": task("Third", ResultPath="$.third", End=True),
    }
    runner = runner_for(functions)
    first = start(runner, states, {}, "three-steps").wait(5)

    redriven = runner.redrive(first.arn).wait(5)

    assert [name for name, _, _ in functions.calls] == ["First", "Second", "Third", "Third"]
    assert redriven.output == {"first": "one", "second": "two", "third": "three"}
    assert [e.type for e in redriven.history].count("ExecutionStarted") == 1  # one history, appended to


def test_a_redriven_execution_keeps_its_arn_start_date_and_history_and_counts_its_redrives() -> None:
    functions = Functions(Work=[StatesError("Boom")])
    runner = runner_for(functions)
    first = start(runner, {"Work": task("Work", End=True)}, {}, "counted").wait(5)

    second = runner.redrive(first.arn).wait(5)
    third = runner.redrive(first.arn).wait(5)

    assert [r.redrive_count for r in (first, second, third)] == [0, 1, 2]
    assert {r.arn for r in (first, second, third)} == {first.arn}
    assert {r.start_date for r in (first, second, third)} == {first.start_date}
    assert third.redrive_date is not None and third.redrive_date >= first.stop_date  # type: ignore[operator]
    assert [e.details for e in third.history if e.type == "ExecutionRedriven"] == [
        {"redriveCount": 1},
        {"redriveCount": 2},
    ]
    assert [context.redrive_count for _, context in functions.of("Work")] == [0, 1, 2]


# -- aborted executions and tasks that run on -------------------------------------------------------


def test_an_aborted_execution_is_aborted_at_once_and_redriven_at_the_state_it_was_in() -> None:
    started, release = threading.Event(), threading.Event()

    def slow(payload: Any) -> str:
        started.set()
        release.wait(5)
        return "late"

    functions = Functions(Before=["before"], Work=[slow, "again"])
    states = {
        "Before": task("Before", ResultPath="$.before", Next="Work"),
        "Work": task("Work", ResultPath="$.work", End=True),
    }
    runner = runner_for(functions)
    running = start(runner, states, {"n": 1}, "aborted-in-work")
    assert started.wait(5)

    running.abort()
    status_at_once = running.execution.status
    redriven = runner.redrive(running.execution.arn)
    aborted, result = running.wait(5), redriven.wait(5)
    release.set()

    assert status_at_once == "ABORTED"
    assert aborted.status == "ABORTED" and aborted.stop_date is not None
    assert (result.status, result.output) == ("SUCCEEDED", {"n": 1, "before": "before", "work": "again"})
    assert [payload for payload, _ in functions.of("Work")] == [{"n": 1, "before": "before"}] * 2
    assert len(functions.of("Before")) == 1


def test_a_task_still_running_from_the_aborted_attempt_runs_alongside_its_redriven_invocation() -> None:
    release = threading.Event()
    active: list[int] = []
    most = [0]
    lock = threading.Lock()

    def work(payload: Any) -> str:
        with lock:
            active.append(1)
            most[0] = max(most[0], len(active))
        try:
            release.wait(5)
            return "done"
        finally:
            with lock:
                active.pop()

    functions = Functions(Process=[work])
    runner = runner_for(functions)
    running = start(runner, {"Process": task("Process", End=True)}, {}, "overlapping")
    wait_for(lambda: len(functions.of("Process")) == 1)

    running.abort()
    redriven = runner.redrive(running.execution.arn)
    wait_for(lambda: len(functions.of("Process")) == 2)
    overlap = most[0]
    release.set()

    assert overlap == 2  # nothing stops the second invocation while the first one runs, as on AWS
    assert redriven.wait(5).status == "SUCCEEDED"


def test_a_wait_interrupted_by_a_stop_is_entered_again_on_redrive() -> None:
    functions = Functions(Work=["done"])
    states = {"Pause": {"Type": "Wait", "Seconds": 30, "Next": "Work"}, "Work": task("Work", End=True)}
    runner = runner_for(functions, ScaledTimer(100.0))
    running = start(runner, states, {}, "stopped-in-wait")
    wait_for(lambda: any(e.type == "WaitStarted" for e in running.execution.history))

    running.abort()
    result = runner.redrive(running.execution.arn).wait(5)

    assert running.wait(5).status == "ABORTED" and functions.of("Work")[0][1].redrive_count == 1
    assert entered_after_redrive(result.history) == ["Pause", "Work"]


# -- retries, Fail states, the context object -------------------------------------------------------


def test_the_retry_count_of_the_redriven_task_starts_again_at_zero() -> None:
    boom = StatesError("Boom")
    functions = Functions(Work=[boom, boom, boom, boom, boom, "third time lucky"])
    retry = [{"ErrorEquals": ["Boom"], "MaxAttempts": 2, "IntervalSeconds": 1, "BackoffRate": 2}]
    timer = FakeTimer()
    runner = runner_for(functions, timer)
    first = start(runner, {"Work": task("Work", Retry=retry, End=True)}, {}, "retried").wait(5)

    redriven = runner.redrive(first.arn).wait(5)

    assert (first.status, redriven.status) == ("FAILED", "SUCCEEDED")
    assert [context.retry_count for _, context in functions.of("Work")] == [0, 1, 2, 0, 1, 2]
    assert timer.sleeps == [1, 2, 1, 2]


def test_an_execution_that_failed_at_a_fail_state_fails_again_at_that_state_when_redriven() -> None:
    functions = Functions(Work=[StatesError("Boom", "down")], Cleanup=["cleaned"])
    states = {
        "Work": task("Work", Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Cleanup"}]),
        "Cleanup": task("Cleanup", ResultPath=None, Next="Failed"),
        "Failed": {"Type": "Fail", "Error": "WorkFailed", "Cause": "the work did not complete"},
    }
    states["Work"]["Next"] = "Done"
    states["Done"] = {"Type": "Succeed"}
    runner = runner_for(functions)
    first = start(runner, states, {}, "failed-by-fail-state").wait(5)

    redriven = runner.redrive(first.arn).wait(5)

    assert (first.status, first.error) == ("FAILED", "WorkFailed")
    assert (redriven.status, redriven.error, redriven.redrive_count) == ("FAILED", "WorkFailed", 1)
    assert entered_after_redrive(redriven.history) == ["Failed"]
    assert [name for name, _, _ in functions.calls] == ["Work", "Cleanup"]


def test_redrive_count_is_zero_until_a_redrive_and_reaches_parameters_and_states_format() -> None:
    functions = Functions(Work=[StatesError("Boom"), "ok"])
    parameters = {
        "count.$": "$$.Execution.RedriveCount",
        "key.$": "States.Format('{}#{}', $$.Execution.Id, $$.Execution.RedriveCount)",
        "execution.$": "$$.Execution",
    }
    runner = runner_for(functions)
    first = start(runner, {"Work": task("Work", Parameters=parameters, End=True)}, {}, "keyed").wait(5)

    runner.redrive(first.arn).wait(5)

    (before, _), (after, _) = functions.of("Work")
    assert (before["count"], before["key"]) == (0, f"{first.arn}#0")
    assert (after["count"], after["key"]) == (1, f"{first.arn}#1")
    assert "RedriveTime" not in before["execution"]
    assert after["execution"]["RedriveTime"].endswith("Z")
    assert after["execution"]["StartTime"] == before["execution"]["StartTime"]


# -- who may redrive, and when ----------------------------------------------------------------------


def test_a_running_or_succeeded_execution_cannot_be_redriven() -> None:
    release = threading.Event()
    functions = Functions(Work=[lambda payload: release.wait(5) and "done"])
    runner = runner_for(functions)
    running = start(runner, {"Work": task("Work", End=True)}, {}, "busy")
    wait_for(lambda: len(functions.calls) == 1)

    with pytest.raises(ExecutionNotRedrivable, match="Execution is RUNNING and cannot be redriven"):
        runner.redrive(running.execution.arn)
    release.set()
    assert running.wait(5).status == "SUCCEEDED"
    with pytest.raises(ExecutionNotRedrivable, match="Execution is SUCCEEDED and cannot be redriven"):
        runner.redrive(running.execution.arn)


def test_an_execution_no_runner_started_does_not_exist_for_redrive() -> None:
    with pytest.raises(ExecutionDoesNotExist):
        runner_for(Functions()).redrive(MACHINE.replace(":stateMachine:", ":execution:") + ":never-started")


def test_a_redrive_is_pending_until_it_starts_and_cannot_be_asked_twice() -> None:
    functions = Functions(Work=[StatesError("Boom"), "ok"])
    runner = runner_for(functions, ScaledTimer(10.0))
    first = start(runner, {"Work": task("Work", End=True)}, {}, "pending").wait(5)

    redriven = runner.redrive(first.arn, pending_seconds=3)
    pending = (redriven.execution.status, redriven.execution.redrive_count)
    with pytest.raises(ExecutionNotRedrivable, match="PENDING_REDRIVE"):
        runner.redrive(first.arn)

    assert pending == ("PENDING_REDRIVE", 0)  # the count moves when the redrive starts
    assert (redriven.wait(5).status, redriven.execution.redrive_count) == ("SUCCEEDED", 1)


def test_a_stop_while_a_redrive_is_pending_aborts_the_execution_before_it_starts() -> None:
    functions = Functions(Work=[StatesError("Boom"), "ok"])
    runner = runner_for(functions, ScaledTimer(10.0))
    first = start(runner, {"Work": task("Work", End=True)}, {}, "stopped-pending").wait(5)

    pending = runner.redrive(first.arn, pending_seconds=30)
    pending.abort()
    stopped = pending.wait(5)
    later = runner.redrive(first.arn).wait(5)

    assert (stopped.status, stopped.redrive_count) == ("ABORTED", 0)
    assert (later.status, later.redrive_count) == ("SUCCEEDED", 1)
    assert len(functions.of("Work")) == 2


def test_every_redrive_is_reported_to_the_runners_on_redrive_hook() -> None:
    seen: list[RunningExecution] = []
    runner = runner_for(Functions(Work=[StatesError("Boom")]), on_redrive=seen.append)
    first = start(runner, {"Work": task("Work", End=True)}, {}, "hooked").wait(5)

    redriven = runner.redrive(first.arn)

    assert seen == [redriven]
    redriven.wait(5)


# -- the status-change event -----------------------------------------------------------------------


def test_the_status_change_event_of_each_attempt_carries_the_executions_redrive_count() -> None:
    runner = runner_for(Functions(Work=[StatesError("Boom", "down")]))
    first = start(runner, {"Work": task("Work", End=True)}, {"job": 1}, "announced").wait(5)
    second = runner.redrive(first.arn).wait(5)

    before = status_change_event(first, account_id=ACCOUNT, region=REGION)
    after = status_change_event(second, account_id=ACCOUNT, region=REGION)

    assert (before["source"], before["detail-type"]) == ("aws.states", "Step Functions Execution Status Change")
    assert before["resources"] == [first.arn] and before["id"] != after["id"]
    assert {k: before["detail"][k] for k in ("status", "redriveCount", "redriveDate", "redriveStatus", "error")} == {
        "status": "FAILED",
        "redriveCount": 0,
        "redriveDate": None,
        "redriveStatus": "REDRIVABLE",
        "error": "Boom",
    }
    assert (after["detail"]["redriveCount"], after["detail"]["status"]) == (1, "FAILED")
    assert after["detail"]["redriveDate"] == int(second.redrive_date.timestamp() * 1000)  # type: ignore[union-attr]
    assert after["detail"]["startDate"] == before["detail"]["startDate"]
    assert after["detail"]["stopDate"] >= after["detail"]["redriveDate"] >= before["detail"]["stopDate"]
    assert after["detail"]["input"] == '{"job": 1}'
