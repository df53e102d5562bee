"""Make the embedded moto answer for the executions local runners run: Describe, Stop and RedriveExecution.

moto 5.2.5 keeps its own record of an execution (started with StartExecution,
then written back by whoever watches the local run) and has no RedriveExecution
at all. ``route_moto_executions`` makes the Step Functions API of the embedded
server, reached with a plain boto3 client as on AWS:

- RedriveExecution: redrives the execution in the local runner that ran it
  (``LocalRunner.redrive``), or, for an execution moto alone knows (started
  without a runner, so nothing runs it), updates moto's record as AWS would
  report it; answers ExecutionNotRedrivable or ExecutionDoesNotExist as the API
  does (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html);
- DescribeExecution: the live status of a local execution (RUNNING,
  PENDING_REDRIVE, ABORTED from the StopExecution call on, ...), its stop date,
  and the redrive fields (redriveCount, redriveDate, redriveStatus,
  redriveStatusReason) of
  https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html;
- StopExecution: also aborts the local execution, as StopExecution does on AWS.

Executions moto alone knows keep moto's answers, with the redrive fields added.
"""

from __future__ import annotations

import datetime
from typing import Any

from moto.core.responses import ActionResult

from lease_ops.local_runner.errors import ExecutionNotRedrivable
from lease_ops.local_runner.execution import REDRIVABLE
from lease_ops.local_runner.executions import LOCAL_EXECUTIONS, LocalExecutions, redrive_fields


def redrive_execution(backend: Any, arn: str, executions: LocalExecutions = LOCAL_EXECUTIONS) -> datetime.datetime:
    """RedriveExecution of ``arn`` as the embedded Step Functions answers it; returns the redrive date."""
    entry = executions.live(arn)
    if entry is not None:
        running = entry[1].redrive(arn)
        return running.execution.redrive_date  # type: ignore[no-any-return]
    record = executions.record(arn)
    if record is not None:
        raise ExecutionNotRedrivable(f"Execution is {record.status} and cannot be redriven")
    execution = backend.describe_execution(arn)  # ExecutionDoesNotExist, InvalidArn as moto answers them
    if execution.status not in REDRIVABLE:
        raise ExecutionNotRedrivable(f"Execution is {execution.status} and cannot be redriven")
    execution.status = "RUNNING"
    execution.stop_date = None
    execution.redrive_count = getattr(execution, "redrive_count", 0) + 1
    execution.redrive_date = datetime.datetime.now(datetime.UTC)
    return execution.redrive_date  # type: ignore[no-any-return]


def describe_fields(backend: Any, arn: str, executions: LocalExecutions = LOCAL_EXECUTIONS) -> dict[str, Any]:
    """The fields of DescribeExecution that the local run (or moto's own record) decides."""
    record = executions.record(arn)
    if record is None:
        execution = backend.describe_execution(arn)
        status = str(execution.status)
        return {
            "status": status,
            **redrive_fields(status, getattr(execution, "redrive_count", 0), getattr(execution, "redrive_date", None)),
        }
    fields: dict[str, Any] = {
        "status": record.status,
        **redrive_fields(record.status, record.redrive_count, record.redrive_date),
    }
    if record.stop_date is not None and record.status != "RUNNING":
        fields["stopDate"] = record.stop_date
    if record.status == "FAILED":
        fields["error"], fields["cause"] = record.error, record.cause
    return fields


def route_moto_executions(executions: LocalExecutions = LOCAL_EXECUTIONS) -> None:
    """Patch moto's Step Functions responses (once per process) to answer for local executions."""
    from moto.stepfunctions.responses import StepFunctionResponse

    if getattr(StepFunctionResponse, "routes_local_executions", False):
        return
    describe, stop = StepFunctionResponse.describe_execution, StepFunctionResponse.stop_execution

    def redrive_execution_action(self: Any) -> ActionResult:
        redrive_date = redrive_execution(self.stepfunction_backend, self._get_param("executionArn"), executions)
        return ActionResult({"redriveDate": redrive_date})

    def describe_execution_action(self: Any) -> ActionResult:
        answer = describe(self)  # ExecutionDoesNotExist and InvalidArn as moto answers them
        response = answer.result
        assert isinstance(response, dict)
        fields = describe_fields(self.stepfunction_backend, self._get_param("executionArn"), executions)
        if executions.record(self._get_param("executionArn")) is not None:
            for key in ("stopDate", "error", "cause"):
                response.pop(key, None)
        response.update(fields)
        return answer

    def stop_execution_action(self: Any) -> ActionResult:
        entry = executions.live(self._get_param("executionArn"))
        if entry is not None:
            entry[0].abort()
        return stop(self)  # type: ignore[no-any-return]

    StepFunctionResponse.redrive_execution = redrive_execution_action  # type: ignore[attr-defined]
    StepFunctionResponse.describe_execution = describe_execution_action  # type: ignore[method-assign]
    StepFunctionResponse.stop_execution = stop_execution_action  # type: ignore[method-assign]
    StepFunctionResponse.routes_local_executions = True  # type: ignore[attr-defined]
