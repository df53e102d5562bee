"""A state machine's CloudWatch Logs logging and X-Ray tracing: its log group, its settings, its role's rights.

Step Functions writes execution history events to a log group the caller names, at a level (``ALL``,
``ERROR``, ``FATAL`` or ``OFF``), and traces executions with X-Ray when tracing is enabled
(https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html,
https://docs.aws.amazon.com/step-functions/latest/dg/concepts-xray-tracing.html). Both need rights on the
state machine's role, which AWS documents as resource ``*`` (log deliveries and trace segments name no
resource of ours). The log group lives under ``/aws/vendedlogs/``, as the Step Functions guide advises, so
that CloudWatch Logs' resource policy does not grow with each state machine; it gets the platform's
retention and tags, and goes with its state machine on destroy.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from lease_ops.aws.aws_target import ArnScope, AwsTarget, aws_errors, error_code
from lease_ops.aws.plan import Plan
from lease_ops.aws.table import MANAGED_BY_TAG
from lease_ops.config.platform_config import PlatformConfig

# https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html#cloudwatch-iam-policy
LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
]
# https://docs.aws.amazon.com/step-functions/latest/dg/xray-iam.html
TRACING_ACTIONS = [
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
]


def log_group_name(state_machine_name: str) -> str:
    return f"/aws/vendedlogs/states/{state_machine_name}"


def role_statements(config: PlatformConfig) -> list[dict[str, Any]]:
    """What the state machine's role needs for the configured logging and tracing (nothing when both are off)."""
    statements = []
    if config.state_machine_log_level != "OFF":
        statements.append(
            {"Sid": "DeliverExecutionLogs", "Effect": "Allow", "Action": LOG_DELIVERY_ACTIONS, "Resource": "*"}
        )
    if config.state_machine_tracing:
        statements.append({"Sid": "SendTraces", "Effect": "Allow", "Action": TRACING_ACTIONS, "Resource": "*"})
    return statements


class StateMachineLogs:
    """One state machine's logging and tracing settings and its log group.

    The settings need only where the group is (``target`` may be CloudFormation's pseudo parameters, for
    the platform template); reading or changing the group needs an ``AwsTarget``."""

    def __init__(self, target: ArnScope, config: PlatformConfig, state_machine_name: str) -> None:
        self.config = config
        self.target = target
        self.group = log_group_name(state_machine_name)
        self.group_arn = target.arn("logs", f"log-group:{self.group}:*")

    @cached_property
    def logs(self) -> Any:
        if not isinstance(self.target, AwsTarget):
            raise TypeError(f"log group {self.group} can only be read or changed in an AWS account")
        return self.target.client("logs")

    @property
    def logging_configuration(self) -> dict[str, Any]:
        level = self.config.state_machine_log_level
        if level == "OFF":
            return {"level": "OFF"}
        # Execution data (inputs and outputs) stays out of the logs: it carries the workloads' records.
        destination = {"cloudWatchLogsLogGroup": {"logGroupArn": self.group_arn}}
        return {"level": level, "includeExecutionData": False, "destinations": [destination]}

    @property
    def tracing_configuration(self) -> dict[str, bool]:
        return {"enabled": self.config.state_machine_tracing}

    def matches(self, described: dict[str, Any]) -> bool:
        """Whether a DescribeStateMachine answer already has these settings."""
        logging = described.get("loggingConfiguration") or {"level": "OFF"}
        wanted = self.logging_configuration
        same_logging = logging.get("level") == wanted["level"] and logging.get("destinations", []) == wanted.get(
            "destinations", []
        )
        tracing = (described.get("tracingConfiguration") or {}).get("enabled", False)
        return same_logging and tracing == self.config.state_machine_tracing

    def describe_group(self) -> dict[str, Any] | None:
        with aws_errors(f"reading log group {self.group}"):
            groups = self.logs.describe_log_groups(logGroupNamePrefix=self.group)["logGroups"]
        return next((group for group in groups if group["logGroupName"] == self.group), None)

    def plan_group(self, plan: Plan) -> None:
        """The log group with the platform's retention, when the state machine logs at all."""
        if self.config.state_machine_log_level == "OFF":
            return
        days = self.config.log_retention_days
        group = self.describe_group()
        if group is None:
            plan.change(f"create log group {self.group} ({days} days' retention)", self._create_group)
        elif group.get("retentionInDays") != days:
            plan.change(f"keep the logs of {self.group} {days} days", self._put_retention)
        else:
            plan.unchanged(f"log group {self.group} ({days} days' retention)")

    def plan_group_removal(self, plan: Plan) -> None:
        if self.describe_group() is None:
            plan.unchanged(f"log group {self.group} is gone")
        else:
            plan.change(f"delete log group {self.group}", self._delete_group)

    def _create_group(self) -> None:
        with aws_errors(f"creating log group {self.group}"):
            self.logs.create_log_group(logGroupName=self.group, tags={MANAGED_BY_TAG: self.config.platform})
        self._put_retention()

    def _put_retention(self) -> None:
        with aws_errors(f"setting the retention of {self.group}"):
            self.logs.put_retention_policy(logGroupName=self.group, retentionInDays=self.config.log_retention_days)

    def _delete_group(self) -> None:
        with aws_errors(f"deleting log group {self.group}"):
            try:
                self.logs.delete_log_group(logGroupName=self.group)
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
