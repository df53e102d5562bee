"""Errors of the operator tools: each is reported as one line and a non-zero exit, never a traceback."""

from __future__ import annotations


class OperatorError(Exception):
    """Something the operator can fix; the message says what and how."""

    exit_code = 2


class PlatformConfigError(OperatorError):
    """platform.toml or an override (region, table, stage, workload) is wrong."""


class UnknownWorkload(PlatformConfigError):
    """A workload name that platform.toml does not define."""


class UnknownRegion(PlatformConfigError):
    """A region name that no AWS partition knows."""


class MissingCredentials(OperatorError):
    """No AWS credentials were found for the target account."""


class AwsCallFailed(OperatorError):
    """An AWS API call failed; the message names the call and AWS's error."""


class TableNotFound(OperatorError):
    """The lease table the command reads does not exist (in that region, at that endpoint)."""


class TableSchemaMismatch(OperatorError):
    """A table of the configured name exists with another key schema: it is not ours to change."""


class ForeignTable(OperatorError):
    """A table of the configured name exists without this platform's tag, and adopting it was not asked for."""


class ForeignResource(OperatorError):
    """A state machine or role of our name exists but was not made by this platform."""


class RuntimeMismatch(OperatorError):
    """Chalice would give the Lambdas another Python runtime than platform.toml pins."""


class DeploymentFailed(OperatorError):
    """A `chalice deploy`/`chalice delete` of an app failed."""


class PortInUse(OperatorError):
    """A local server cannot listen on the port asked for: something else already does."""


class ExecutionsFailed(OperatorError):
    """Some of the executions started by `run` did not succeed."""

    exit_code = 1


class ExecutionsStillRunning(OperatorError):
    """`destroy` would delete state machines whose executions still run (and hold or wait for leases)."""

    exit_code = 1


class TableStillInUse(OperatorError):
    """`destroy --destroy-table` of one stage while another stage's Lambdas still use the table."""

    exit_code = 1
