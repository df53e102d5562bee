"""A local runner of Step Functions definitions: the same definitions that are deployed, run in-process.

Supported: Task (Lambda, through ``arn:aws:states:::lambda:invoke`` or a function
ARN), Choice, Wait (time-scaled), Pass, Succeed, Fail; InputPath, Parameters,
ResultSelector, ResultPath, OutputPath with ``.$`` paths and the ``$$`` context;
Retry and Catch. Anything else is refused up front by ``check_definition``.
"""

from lease_ops.local_runner.definition_check import check_definition
from lease_ops.local_runner.errors import StatesError, UnsupportedDefinition
from lease_ops.local_runner.execution import ExecutionResult, HistoryEvent, TaskContext
from lease_ops.local_runner.lambda_dispatch import ChaliceLambdaDispatcher, Invocation
from lease_ops.local_runner.runner import LocalRunner, RunningExecution, execution_arn
from lease_ops.local_runner.timing import FakeTimer, ScaledTimer

__all__ = [
    "ChaliceLambdaDispatcher",
    "ExecutionResult",
    "FakeTimer",
    "HistoryEvent",
    "Invocation",
    "LocalRunner",
    "RunningExecution",
    "ScaledTimer",
    "StatesError",
    "TaskContext",
    "UnsupportedDefinition",
    "check_definition",
    "execution_arn",
]
