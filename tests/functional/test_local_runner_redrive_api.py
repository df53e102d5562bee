"""RedriveExecution, DescribeExecution and StopExecution through boto3, for executions the local runner runs.

moto has no RedriveExecution and knows nothing of the local run; ``route_moto_executions`` answers as
Step Functions does:
https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html and
https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html (status
PENDING_REDRIVE, redriveCount, redriveDate, redriveStatus, redriveStatusReason).
"""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lease_ops.chaos.control_plane import ControlPlane
from lease_ops.local_runner import (
    FakeTimer,
    LocalRunner,
    RunningExecution,
    ScaledTimer,
    StatesError,
    TaskContext,
    route_moto_executions,
)
from lease_ops.local_runner.timing import VirtualClock
from tests.helpers import ACCOUNT, REGION, arn, aws_client, stand_in_role

FUNCTION = arn("lambda", "function:demo-dev-work")
DEFINITION = {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": FUNCTION, "End": True}}}


class Steps:
    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.calls = 0

    def invoke(self, function: str, payload: Any, context: TaskContext) -> Any:
        self.calls += 1
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, BaseException):
            raise step
        return step(payload) if callable(step) else step


@pytest.fixture
def machine(stepfunctions: Any) -> str:
    route_moto_executions()
    role = stand_in_role(aws_client("iam"), "redrive")
    return str(
        stepfunctions.create_state_machine(name="redrive-api", definition=json.dumps(DEFINITION), roleArn=role)[
            "stateMachineArn"
        ]
    )


def start(stepfunctions: Any, runner: LocalRunner, machine: str, name: str) -> RunningExecution:
    """As the chaos control plane starts one: in moto's Step Functions first, then in the local runner."""
    stepfunctions.start_execution(stateMachineArn=machine, name=name)
    return runner.start(machine, DEFINITION, {}, name=name)


def error_code(call: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def test_redrive_execution_through_boto3_restarts_a_failed_local_execution_and_describe_counts_it(
    stepfunctions: Any, machine: str
) -> None:
    redriven: list[RunningExecution] = []
    runner = LocalRunner(Steps(StatesError("Boom", "down"), "ok"), timer=FakeTimer(), on_redrive=redriven.append)
    first = start(stepfunctions, runner, machine, "boto3-redrive").wait(5)
    failed = stepfunctions.describe_execution(executionArn=first.arn)

    answer = stepfunctions.redrive_execution(executionArn=first.arn)
    result = redriven[0].wait(5)
    succeeded = stepfunctions.describe_execution(executionArn=first.arn)

    assert (failed["status"], failed["error"], failed["redriveCount"], failed["redriveStatus"]) == (
        "FAILED",
        "Boom",
        0,
        "REDRIVABLE",
    )
    assert "stopDate" in failed and "redriveDate" not in failed
    assert (result.arn, result.status, result.redrive_count) == (first.arn, "SUCCEEDED", 1)
    assert succeeded["redriveDate"] == answer["redriveDate"]
    assert (succeeded["status"], succeeded["redriveCount"], succeeded["redriveStatus"]) == (
        "SUCCEEDED",
        1,
        "NOT_REDRIVABLE",
    )
    assert succeeded["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven"
    assert error_code(lambda: stepfunctions.redrive_execution(executionArn=first.arn)) == "ExecutionNotRedrivable"


def test_describe_execution_says_pending_redrive_until_the_redriven_attempt_starts(
    stepfunctions: Any, machine: str
) -> None:
    runner = LocalRunner(Steps(StatesError("Boom"), "ok"), timer=ScaledTimer(10.0))
    first = start(stepfunctions, runner, machine, "pending-redrive").wait(5)

    redriven = runner.redrive(first.arn, pending_seconds=5)
    pending = stepfunctions.describe_execution(executionArn=first.arn)
    asked_again = error_code(lambda: stepfunctions.redrive_execution(executionArn=first.arn))
    redriven.wait(5)
    done = stepfunctions.describe_execution(executionArn=first.arn)

    assert (pending["status"], pending["redriveCount"], pending["redriveStatus"]) == (
        "PENDING_REDRIVE",
        0,
        "NOT_REDRIVABLE",
    )
    assert asked_again == "ExecutionNotRedrivable"
    assert (done["status"], done["redriveCount"]) == ("SUCCEEDED", 1)


def test_stop_execution_through_boto3_aborts_a_local_execution_at_once(stepfunctions: Any, machine: str) -> None:
    release = threading.Event()
    steps = Steps(lambda payload: release.wait(5) and "late")
    running = start(stepfunctions, LocalRunner(steps, timer=FakeTimer()), machine, "boto3-stop")
    deadline = time.monotonic() + 5
    while steps.calls == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    running_status = stepfunctions.describe_execution(executionArn=running.execution.arn)["status"]

    stepfunctions.stop_execution(executionArn=running.execution.arn)
    stopped = stepfunctions.describe_execution(executionArn=running.execution.arn)
    release.set()

    assert running_status == "RUNNING"
    assert (stopped["status"], stopped["redriveStatus"]) == ("ABORTED", "REDRIVABLE") and "stopDate" in stopped
    assert running.wait(5).status == "ABORTED"


def test_an_execution_moto_alone_knows_is_redriven_in_its_record_and_an_unknown_one_does_not_exist(
    stepfunctions: Any, machine: str
) -> None:
    stopped = stepfunctions.start_execution(stateMachineArn=machine, name="moto-only")["executionArn"]
    running = stepfunctions.start_execution(stateMachineArn=machine, name="moto-running")["executionArn"]
    stepfunctions.stop_execution(executionArn=stopped)

    stepfunctions.redrive_execution(executionArn=stopped)
    described = stepfunctions.describe_execution(executionArn=stopped)

    assert (described["status"], described["redriveCount"]) == ("RUNNING", 1) and "redriveDate" in described
    assert error_code(lambda: stepfunctions.redrive_execution(executionArn=running)) == "ExecutionNotRedrivable"
    unknown = stopped.rsplit(":", 1)[0] + ":never-started"
    assert error_code(lambda: stepfunctions.redrive_execution(executionArn=unknown)) == "ExecutionDoesNotExist"


def test_the_control_plane_watches_a_redriven_attempt_and_announces_its_end_with_the_redrive_count(
    stepfunctions: Any, machine: str
) -> None:
    clock = VirtualClock()
    announced: list[dict[str, Any]] = []
    lease_app = SimpleNamespace(handler_map={"reclaim": lambda event, context: announced.append(event)})
    control = ControlPlane(
        runner=LocalRunner(Steps(StatesError("Boom", "down")), timer=clock),
        clock=clock,
        stepfunctions=stepfunctions,
        lease_app=lease_app,  # type: ignore[arg-type]
        lease_app_environment={},
        account_id=ACCOUNT,
        region=REGION,
    )
    [arn] = control.start_all([(machine, DEFINITION, {}, "announced")])
    control.wait_all(stall_seconds=10)

    stepfunctions.redrive_execution(executionArn=arn)  # through moto, as a scenario's boto3 client would
    results = control.wait_all(stall_seconds=10)
    clock.close()

    assert [(r.status, r.redrive_count) for r in results] == [("FAILED", 0), ("FAILED", 1)]
    assert [e["detail"]["redriveCount"] for e in announced] == [0, 1]
    assert {e["detail"]["status"] for e in announced} == {"FAILED"}
    assert announced[1]["detail"]["stopDate"] >= announced[1]["detail"]["redriveDate"]
