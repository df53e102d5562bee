"""What a workload's `.chalice/config.json` sets for a stage, as the platform reads it: its LEASE_* settings
and its Process timeouts. Rendering the workflows and writing the caps both read these; neither imports
the other for it."""

from __future__ import annotations

from lease_core import InvalidLeaseRequest
from lease_core.settings import LeaseSettings
from lease_ops.config.chalice_apps import function_timeout
from lease_ops.config.platform_config import WorkloadConfig
from lease_ops.errors import PlatformConfigError

# Step Functions' timer starts when it schedules the task, Lambda's when the function starts.
INVOKE_MARGIN_SECONDS = 10


def configured_settings(workload: WorkloadConfig, stage: str) -> LeaseSettings:
    """The workload's LEASE_* settings of the stage, checked as the Lambdas check them."""
    stage_config = workload.chalice_config().get("stages", {}).get(stage)
    if stage_config is None:
        raise PlatformConfigError(f"{workload.app}/.chalice/config.json has no stage {stage!r}")
    try:
        return LeaseSettings.from_environment(stage_config.get("environment_variables", {}))
    except InvalidLeaseRequest as exc:
        raise PlatformConfigError(f"{workload.app}/.chalice/config.json stage {stage!r}: {exc}") from None


def lease_seconds(workload: WorkloadConfig, stage: str) -> int:
    return configured_settings(workload, stage).ttl_seconds


def process_lambda_timeout(workload: WorkloadConfig, stage: str) -> int:
    """The process Lambda's own timeout, as its stage in .chalice/config.json sets it."""
    return function_timeout(workload.chalice_config(), stage, "process")


def process_timeout_seconds(workload: WorkloadConfig, stage: str) -> int:
    """The Process task's timeout: the process Lambda's own timeout plus a margin for the invoke itself.

    It is also the prefix's ``task_seconds``: how long a Process started under one of its leases can run.
    """
    return process_lambda_timeout(workload, stage) + INVOKE_MARGIN_SECONDS


def check_lease_outlives_process(workload: WorkloadConfig, stage: str) -> None:
    """The lease TTL must outlast one Process invocation: Process starts its work only under a lease that is
    live until the function's own timeout (lease_core.process_guard), and acquire grants TTL seconds, so a
    shorter TTL would send every execution from Process back to Acquire for ever."""
    ttl = lease_seconds(workload, stage)
    needed = process_timeout_seconds(workload, stage)
    if ttl < needed:
        raise PlatformConfigError(
            f"{workload.app}/.chalice/config.json stage {stage!r}: LEASE_TTL_SECONDS is {ttl}, shorter than the "
            f"process function's timeout plus {INVOKE_MARGIN_SECONDS} s ({needed}): raise the TTL or lower the "
            "timeout, so that a lease outlives the work it guards"
        )
