"""Make the embedded moto's StartExecution start a local run, under the execution ARN moto gave it.

moto 5.2.5 records a started execution and leaves it RUNNING for ever: it runs
nothing. While ``starting_locally(starter)`` is open, StartExecution first
answers as moto does (the name's checks and idempotency, the new ARN, the start
date), then hands each execution it created to ``starter``, with the state
machine's definition as moto stores it. The starter decides whether a local
runner runs it; one it leaves alone stays as moto leaves it. DescribeExecution,
StopExecution and RedriveExecution then answer from the local run
(``moto_routes``). ``write_back_to_moto`` is a runner listener that keeps moto's
own record of an execution in step with its local run (status, stop date,
output, error), so that what moto answers alone (ListExecutions) agrees.

Outside ``starting_locally`` StartExecution is moto's, untouched: tests that
stand in for Step Functions by finishing moto's records keep doing so.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto.core.responses import ActionResult

from lease_ops.local_runner.execution import HistoryEvent
from lease_ops.local_runner.executions import LOCAL_EXECUTIONS, LocalExecutions

ENDED = {"ExecutionSucceeded": "SUCCEEDED", "ExecutionFailed": "FAILED", "ExecutionAborted": "ABORTED"}


@dataclass(frozen=True)
class StartedExecution:
    """An execution StartExecution has just created in moto."""

    execution_arn: str
    name: str
    state_machine_arn: str
    definition: dict[str, Any]
    input: Any


Starter = Callable[[StartedExecution], None]

_starter: list[Starter] = []  # the open ``starting_locally`` (at most one)
_lock = threading.Lock()


def _route_moto_starts() -> None:
    """Patch moto's StartExecution (once per process) to offer each new execution to the open starter."""
    from moto.stepfunctions.responses import StepFunctionResponse

    if getattr(StepFunctionResponse, "starts_local_executions", False):
        return
    start = StepFunctionResponse.start_execution

    def start_execution_action(self: Any) -> ActionResult:
        backend = self.stepfunction_backend
        machine = backend.describe_state_machine(self._get_param("stateMachineArn"))  # moto's errors, as moto
        known = {execution.execution_arn for execution in machine.executions}
        answer = start(self)
        response = answer.result
        assert isinstance(response, dict)
        with _lock:
            starter = _starter[0] if _starter else None
        if starter is not None and response["executionArn"] not in known:  # not an idempotent repeat
            execution = backend.describe_execution(response["executionArn"])
            starter(
                StartedExecution(
                    execution_arn=execution.execution_arn,
                    name=execution.name,
                    state_machine_arn=machine.arn,
                    definition=json.loads(machine.definition),
                    input=json.loads(execution.execution_input),
                )
            )
        return answer

    StepFunctionResponse.start_execution = start_execution_action  # type: ignore[method-assign]
    StepFunctionResponse.starts_local_executions = True  # type: ignore[attr-defined]


@contextmanager
def starting_locally(starter: Starter) -> Iterator[None]:
    """Offer every execution StartExecution creates on the embedded moto to ``starter`` until the block ends."""
    _route_moto_starts()
    with _lock:
        if _starter:
            raise RuntimeError("another starting_locally block is open in this process")
        _starter.append(starter)
    try:
        yield
    finally:
        with _lock:
            _starter.clear()


def write_back_to_moto(event: HistoryEvent, executions: LocalExecutions = LOCAL_EXECUTIONS) -> None:
    """A runner listener: copy an execution's end (or redrive) into moto's record of it, if moto has one."""
    from moto.stepfunctions.exceptions import ExecutionDoesNotExist
    from moto.stepfunctions.models import stepfunctions_backends

    if event.type not in ENDED and event.type != "ExecutionRedriven":
        return
    _, _, _, region, account, *_ = event.execution_arn.split(":")
    try:
        record = stepfunctions_backends[account][region].describe_execution(event.execution_arn)
    except ExecutionDoesNotExist:  # started by a runner directly, not through StartExecution
        return
    local = executions.record(event.execution_arn)
    if event.type == "ExecutionRedriven" or local is None:
        record.status, record.stop_date = "RUNNING", None
        record.output = record.error = record.cause = None
        return
    record.status = ENDED[event.type]
    record.stop_date = local.stop_date
    record.error, record.cause = local.error, local.cause
    if event.type == "ExecutionSucceeded":
        record.output = json.dumps(event.details.get("output"))
        record.output_details = {"included": True}
