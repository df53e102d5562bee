"""The whole platform on this machine: embedded moto, provisioned by the same code as on AWS.

``make demo`` and ``make local`` both start here: the table, the caps, each
workflow's role and state machine are created on the embedded server exactly as
`bootstrap`, `caps` and `workflows` do it on AWS, and the definitions are read
back from (moto's) Step Functions, so the local runner executes what was deployed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from lease_core.observability import SERVICE
from lease_ops.aws.aws_target import AwsTarget
from lease_ops.aws.table import plan_lease_table
from lease_ops.config.platform_config import PlatformConfig
from lease_ops.local_runner import ChaliceLambdaDispatcher
from lease_ops.provisioning.caps import apply_configured_caps
from lease_ops.provisioning.workflows import WorkflowProvisioner
from lease_ops.sandbox.embedded_aws import embedded_aws


@dataclass
class EmbeddedPlatform:
    config: PlatformConfig
    endpoint: str
    target: AwsTarget
    definitions: dict[str, dict[str, Any]]  # workload name -> deployed definition
    state_machine_arns: dict[str, str]  # workload name -> ARN

    def dispatcher(self) -> ChaliceLambdaDispatcher:
        """Every workload app's Lambdas, in-process, with their stage environment pointed at the embedded server."""
        region = self.config.region
        dispatcher = ChaliceLambdaDispatcher(
            self.config.stage, {"AWS_REGION": region, "AWS_DEFAULT_REGION": region, "AWS_ENDPOINT_URL": self.endpoint}
        )
        for workload in self.config.workloads.values():
            # The wait mode as provisioned (it may be overridden with --wait-mode, not only in config.json).
            environment = {"LEASE_TABLE_NAME": self.config.table, "LEASE_WAIT_MODE": workload.wait_mode}
            dispatcher.add_app(workload.app_dir, environment=environment)
        return dispatcher


@contextmanager
def quiet_lambda_telemetry(log_level: int = logging.WARNING) -> Iterator[None]:
    """Lambda log lines and EMF metrics belong in CloudWatch, not in the middle of a live display."""
    saved_disabled = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    lambda_logger = logging.getLogger(SERVICE)
    saved_level = lambda_logger.level
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    lambda_logger.setLevel(log_level)
    try:
        yield
    finally:
        lambda_logger.setLevel(saved_level)
        if saved_disabled is None:
            os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
        else:
            os.environ["POWERTOOLS_METRICS_DISABLED"] = saved_disabled


def provision(target: AwsTarget, config: PlatformConfig, console: Console) -> dict[str, dict[str, Any]]:
    """Table, caps, roles and state machines; returns each workload's definition as Step Functions has it."""
    quiet = Console(quiet=True)  # the plans' detail is noise here
    plan_lease_table(target.client("dynamodb"), config.table, platform=config.platform).execute(quiet, dry_run=False)
    apply_configured_caps(target, config, console)
    definitions = {}
    sfn = target.client("stepfunctions")
    for workload in config.workloads.values():
        provisioner = WorkflowProvisioner(target, config, workload)
        provisioner.plan().execute(quiet, dry_run=False)
        described = sfn.describe_state_machine(stateMachineArn=provisioner.state_machine_arn)
        definitions[workload.name] = json.loads(described["definition"])
        console.print(
            f"state machine {provisioner.state_machine_name}: {len(definitions[workload.name]['States'])} states"
        )
    return definitions


@contextmanager
def embedded_platform(
    config: PlatformConfig, console: Console, port: int | None = None, *, lambda_log_level: int = logging.WARNING
) -> Iterator[EmbeddedPlatform]:
    """Start, provision and yield the platform; Lambda logs below ``lambda_log_level`` are not shown."""
    with embedded_aws(config.region, port) as endpoint, quiet_lambda_telemetry(lambda_log_level):
        console.print(f"embedded AWS (moto) on {endpoint}: DynamoDB, IAM and Step Functions")
        target = AwsTarget(config.region, endpoint)
        definitions = provision(target, config, console)
        arns = {
            w.name: target.arn("states", f"stateMachine:{config.state_machine_name(w)}")
            for w in config.workloads.values()
        }
        yield EmbeddedPlatform(config, endpoint, target, definitions, arns)
