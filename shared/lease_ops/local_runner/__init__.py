"""A local runner of Step Functions definitions: the same definitions that are deployed, run in-process.

Supported: Task (Lambda, through ``arn:aws:states:::lambda:invoke`` or a function
ARN), Choice, Wait (time-scaled), Pass, Succeed, Fail; InputPath, Parameters,
ResultSelector, ResultPath, OutputPath with ``.$`` paths, the ``$$`` context and
the ``States.Format`` intrinsic; Retry and Catch. Anything else is refused up
front by ``check_definition``.

Tasks run apart from their execution, as Lambda functions do: StopExecution or a
TimeoutSeconds ends the execution's wait, not the call. ``LocalRunner.redrive``
is RedriveExecution (restart at the state that did not succeed, same ARN,
``$$.Execution.RedriveCount`` one higher); ``route_moto_executions`` lets a boto3
client of the embedded moto Describe, Stop and Redrive these executions, and
``starting_locally`` makes its StartExecution start them (``make sandbox``), their
tasks run by ``DeployedChaliceLambdas`` on the Chalice apps deployed to it.
"""

from lease_ops.local_runner.definition_check import check_definition
from lease_ops.local_runner.errors import ExecutionNotRedrivable, StatesError, UnsupportedDefinition
from lease_ops.local_runner.execution import ExecutionResult, HistoryEvent, TaskContext
from lease_ops.local_runner.executions import LOCAL_EXECUTIONS, LocalExecutions, status_change_event
from lease_ops.local_runner.lambda_dispatch import ChaliceLambdaDispatcher, Invocation
from lease_ops.local_runner.moto_lambdas import ChaliceFunctions, DeployedChaliceLambdas
from lease_ops.local_runner.moto_routes import route_moto_executions
from lease_ops.local_runner.moto_starts import StartedExecution, starting_locally, write_back_to_moto
from lease_ops.local_runner.runner import LocalRunner, RunningExecution, execution_arn
from lease_ops.local_runner.timing import FakeTimer, ScaledTimer

__all__ = [
    "LOCAL_EXECUTIONS",
    "ChaliceFunctions",
    "ChaliceLambdaDispatcher",
    "DeployedChaliceLambdas",
    "ExecutionNotRedrivable",
    "ExecutionResult",
    "FakeTimer",
    "HistoryEvent",
    "Invocation",
    "LocalExecutions",
    "LocalRunner",
    "RunningExecution",
    "ScaledTimer",
    "StartedExecution",
    "StatesError",
    "TaskContext",
    "UnsupportedDefinition",
    "check_definition",
    "execution_arn",
    "route_moto_executions",
    "starting_locally",
    "status_change_event",
    "write_back_to_moto",
]
