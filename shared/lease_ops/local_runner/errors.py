"""Errors of the local Step Functions runner."""

from __future__ import annotations

from moto.core.exceptions import AWSError


class UnsupportedDefinition(ValueError):
    """The definition uses something the local runner does not implement; it names the state and field."""


class StatesError(Exception):
    """An error raised inside an execution, as Step Functions names it (``Error``) with its ``Cause``."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause

    def as_output(self) -> dict[str, str]:
        """What a Catch puts at its ResultPath."""
        return {"Error": self.error, "Cause": self.cause}


class ExecutionNotRedrivable(AWSError):
    """RedriveExecution of an execution that cannot be redriven, named and answered (HTTP 400) as the API does.

    https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html
    """

    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


RUNTIME = "States.Runtime"  # path and template failures: never retried or caught
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
TASK_FAILED = "States.TaskFailed"
ALL = "States.ALL"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
INTRINSIC_FAILURE = "States.IntrinsicFailure"  # an intrinsic function could not be applied to its arguments
