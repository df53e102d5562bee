"""Per workload: the rendered definition, the IAM role Step Functions runs it as, and the state machine.

Both are created or updated in place and tagged ``managed-by=<platform>``; a
role or state machine of our name without that tag belongs to someone else and
is refused, never overwritten.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from lease_ops.aws.aws_target import ArnScope, AwsTarget, aws_errors, delete_role, error_code
from lease_ops.aws.plan import Plan
from lease_ops.aws.table import MANAGED_BY_TAG
from lease_ops.config.platform_config import PlatformConfig, WorkloadConfig
from lease_ops.config.workload_settings import (
    check_lease_outlives_process,
    process_lambda_timeout,
    process_timeout_seconds,
)
from lease_ops.definitions.deployed_functions import resolve_functions
from lease_ops.definitions.workflow_builder import LeaseFunctions, LeaseStates, lease_guarded_definition
from lease_ops.errors import ForeignResource
from lease_ops.provisioning.state_machine_logs import StateMachineLogs, role_statements

__all__ = ["lease_states", "process_lambda_timeout", "process_timeout_seconds", "render_definition"]

INVOKE_POLICY_NAME = "invoke-workload-functions"
# IAM is eventually consistent: a new role can take a few seconds before Step Functions may assume it.
ROLE_PROPAGATION_ATTEMPTS = 20
ROLE_PROPAGATION_DELAY = 3.0


def lease_states(workload: WorkloadConfig, functions: LeaseFunctions, partition: str) -> LeaseStates:
    """The workload's lease states as platform.toml configures them: our workflows and ``fragments`` share them."""
    return LeaseStates(
        functions,
        partition=partition,
        wait_seconds=workload.wait_seconds,
        wait_mode=workload.wait_mode,
        recheck_seconds=workload.recheck_seconds,
    )


def render_definition(
    config: PlatformConfig, workload: WorkloadConfig, functions: LeaseFunctions, partition: str
) -> dict[str, Any]:
    """The workload's state machine definition (what `make workflows` deploys and the local runner runs)."""
    check_lease_outlives_process(workload, config.stage)
    payload = dict(workload.process_payload)
    if workload.chunked:
        payload["chunk_size"] = workload.chunk_size
    states = lease_states(workload, functions, partition)
    process = states.process(
        payload, timeout_seconds=process_timeout_seconds(workload, config.stage), chunked=workload.chunked
    )
    return lease_guarded_definition(
        states,
        process,
        comment=f"{config.platform}: {workload.name} work under the lease prefix {workload.prefix!r}",
        chunked=workload.chunked,
        drain_seconds=process_lambda_timeout(workload, config.stage),
    )


def invoked_functions(definition: dict[str, Any]) -> list[str]:
    """Every Lambda ARN the definition's Task states invoke."""
    return sorted(
        {
            state["Parameters"]["FunctionName"]
            for state in definition["States"].values()
            if state.get("Type") == "Task" and ":states:::lambda:invoke" in state.get("Resource", "")
        }
    )


def trust_policy(target: ArnScope, state_machine_arn: str) -> dict[str, Any]:
    """Step Functions of this account, for this state machine only, may assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": target.partition.service_principal("states")},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": target.account_id},
                    "ArnLike": {"aws:SourceArn": state_machine_arn},
                },
            }
        ],
    }


def invoke_policy(function_arns: list[str], extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Invoking exactly the workload's functions (first), and what logging and tracing need (``extra``)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function_arns},
            *(extra or []),
        ],
    }


def role_description(state_machine_name: str) -> str:
    return f"Step Functions role of {state_machine_name}"


def state_machine_tags(config: PlatformConfig, workload: WorkloadConfig) -> dict[str, str]:
    return {MANAGED_BY_TAG: config.platform, "lease-prefix": workload.prefix}


def _tags_say_ours(tags: dict[str, str], platform: str) -> bool:
    return tags.get(MANAGED_BY_TAG) == platform


class WorkflowProvisioner:
    """Plans and applies one workload's role and state machine."""

    def __init__(self, target: AwsTarget, config: PlatformConfig, workload: WorkloadConfig) -> None:
        self.target = target
        self.config = config
        self.workload = workload
        self.iam = target.client("iam")
        self.sfn = target.client("stepfunctions")
        self.role_name = config.role_name(workload)
        self.state_machine_name = config.state_machine_name(workload)
        self.state_machine_arn = target.arn("states", f"stateMachine:{self.state_machine_name}")
        self.role_arn = target.arn("iam", f"role/{self.role_name}", region=False)
        self.logs = StateMachineLogs(target, config, self.state_machine_name)
        self.warnings: list[str] = []

    def definition(self) -> dict[str, Any]:
        resolved = resolve_functions(
            self.workload,
            self.config.stage,
            region=self.target.region,
            account_id=self.target.account_id,
            partition=self.target.partition.name,
        )
        self.warnings.extend(resolved.warnings)
        return render_definition(self.config, self.workload, resolved.functions, self.target.partition.name)

    def plan(self) -> Plan:
        definition = self.definition()
        plan = Plan(f"workflow {self.state_machine_name} (role {self.role_name})")
        self._plan_role(plan, invoke_policy(invoked_functions(definition), role_statements(self.config)))
        self.logs.plan_group(plan)
        self._plan_state_machine(plan, definition)
        return plan

    def plan_removal(self) -> Plan:
        """Delete the state machine and the role, if they exist and are ours."""
        plan = Plan(f"workflow {self.state_machine_name} (role {self.role_name})")
        if self.describe_state_machine() is None:
            plan.unchanged(f"state machine {self.state_machine_name} is gone")
        else:
            self.check_state_machine_is_ours()
            plan.change(f"delete state machine {self.state_machine_name}", self._delete_state_machine)
        self.logs.plan_group_removal(plan)
        if self.get_role() is None:
            plan.unchanged(f"role {self.role_name} is gone")
        else:
            self.check_role_is_ours()
            plan.change(f"delete role {self.role_name}", lambda: delete_role(self.iam, self.role_name))
        return plan

    # -- role ---------------------------------------------------------------------------------

    def _plan_role(self, plan: Plan, policy: dict[str, Any]) -> None:
        trust = trust_policy(self.target, self.state_machine_arn)
        role = self.get_role()
        if role is None:
            plan.change(
                f"create role {self.role_name} trusted by {self.target.partition.service_principal('states')}",
                lambda: self._create_role(trust),
            )
        else:
            self.check_role_is_ours()
            if role["AssumeRolePolicyDocument"] == trust:
                plan.unchanged(f"role {self.role_name} and its trust policy")
            else:
                plan.change(f"update the trust policy of {self.role_name}", lambda: self._update_trust(trust))
        current = self._get_inline_policy() if role is not None else None
        functions = ", ".join(arn.rsplit(":", 1)[-1] for arn in policy["Statement"][0]["Resource"])
        rights = "".join(f", {statement['Sid']}" for statement in policy["Statement"][1:])
        if current == policy:
            plan.unchanged(f"role may invoke exactly {functions}{rights}")
        else:
            plan.change(
                f"allow lambda:InvokeFunction on exactly {functions}{rights}", lambda: self._put_inline_policy(policy)
            )

    def get_role(self) -> dict[str, Any] | None:
        with aws_errors(f"reading role {self.role_name}"):
            try:
                role = self.iam.get_role(RoleName=self.role_name)["Role"]
            except ClientError as exc:
                if error_code(exc) == "NoSuchEntity":
                    return None
                raise
        document = role["AssumeRolePolicyDocument"]
        role["AssumeRolePolicyDocument"] = json.loads(document) if isinstance(document, str) else document
        return role

    def check_role_is_ours(self) -> None:
        with aws_errors(f"reading the tags of role {self.role_name}"):
            tags = {tag["Key"]: tag["Value"] for tag in self.iam.list_role_tags(RoleName=self.role_name)["Tags"]}
        if not _tags_say_ours(tags, self.config.platform):
            raise ForeignResource(
                f"role {self.role_name} exists but is not tagged {MANAGED_BY_TAG}={self.config.platform}: "
                "it was not made by this platform; rename or remove it first"
            )

    def _create_role(self, trust: dict[str, Any]) -> None:
        with aws_errors(f"creating role {self.role_name}"):
            self.iam.create_role(
                RoleName=self.role_name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=role_description(self.state_machine_name),
                Tags=[{"Key": MANAGED_BY_TAG, "Value": self.config.platform}],
            )

    def _update_trust(self, trust: dict[str, Any]) -> None:
        with aws_errors(f"updating the trust policy of {self.role_name}"):
            self.iam.update_assume_role_policy(RoleName=self.role_name, PolicyDocument=json.dumps(trust))

    def _get_inline_policy(self) -> dict[str, Any] | None:
        with aws_errors(f"reading the policy of role {self.role_name}"):
            try:
                document = self.iam.get_role_policy(RoleName=self.role_name, PolicyName=INVOKE_POLICY_NAME)[
                    "PolicyDocument"
                ]
            except ClientError as exc:
                if error_code(exc) == "NoSuchEntity":
                    return None
                raise
        return json.loads(document) if isinstance(document, str) else document

    def _put_inline_policy(self, policy: dict[str, Any]) -> None:
        with aws_errors(f"writing the policy of role {self.role_name}"):
            self.iam.put_role_policy(
                RoleName=self.role_name, PolicyName=INVOKE_POLICY_NAME, PolicyDocument=json.dumps(policy)
            )

    # -- state machine ------------------------------------------------------------------------

    def _plan_state_machine(self, plan: Plan, definition: dict[str, Any]) -> None:
        current = self.describe_state_machine()
        if current is None:
            plan.change(
                f"create Standard state machine {self.state_machine_name} ({len(definition['States'])} states)",
                lambda: self._with_role_propagation(lambda: self._create_state_machine(definition)),
            )
            return
        self.check_state_machine_is_ours()
        settings = f"logging {self.config.state_machine_log_level}, tracing {self._tracing_word}"
        if json.loads(current["definition"]) != definition or current["roleArn"] != self.role_arn:
            plan.change(
                f"update the definition of {self.state_machine_name} ({settings})",
                lambda: self._with_role_propagation(lambda: self._update_state_machine(definition)),
            )
        elif not self.logs.matches(current):
            plan.change(
                f"set the logging and tracing of {self.state_machine_name}: {settings}",
                lambda: self._with_role_propagation(lambda: self._update_state_machine(definition)),
            )
        else:
            plan.unchanged(f"state machine {self.state_machine_name} and its definition ({settings})")

    @property
    def _tracing_word(self) -> str:
        return "on" if self.config.state_machine_tracing else "off"

    def describe_state_machine(self) -> dict[str, Any] | None:
        with aws_errors(f"reading state machine {self.state_machine_name}"):
            try:
                return self.sfn.describe_state_machine(stateMachineArn=self.state_machine_arn)
            except ClientError as exc:
                if error_code(exc) == "StateMachineDoesNotExist":
                    return None
                raise

    def check_state_machine_is_ours(self) -> None:
        with aws_errors(f"reading the tags of {self.state_machine_name}"):
            tags = self.sfn.list_tags_for_resource(resourceArn=self.state_machine_arn)["tags"]
        if not _tags_say_ours({tag["key"]: tag["value"] for tag in tags}, self.config.platform):
            raise ForeignResource(
                f"state machine {self.state_machine_name} exists but is not tagged "
                f"{MANAGED_BY_TAG}={self.config.platform}: its definition is not ours to replace"
            )

    def _create_state_machine(self, definition: dict[str, Any]) -> None:
        self.sfn.create_state_machine(
            name=self.state_machine_name,
            definition=json.dumps(definition),
            roleArn=self.role_arn,
            type="STANDARD",
            loggingConfiguration=self.logs.logging_configuration,
            tracingConfiguration=self.logs.tracing_configuration,
            tags=[
                {"key": key, "value": value} for key, value in state_machine_tags(self.config, self.workload).items()
            ],
        )

    def _update_state_machine(self, definition: dict[str, Any]) -> None:
        self.sfn.update_state_machine(
            stateMachineArn=self.state_machine_arn,
            definition=json.dumps(definition),
            roleArn=self.role_arn,
            loggingConfiguration=self.logs.logging_configuration,
            tracingConfiguration=self.logs.tracing_configuration,
        )

    def _delete_state_machine(self) -> None:
        with aws_errors(f"deleting state machine {self.state_machine_name}"):
            self.sfn.delete_state_machine(stateMachineArn=self.state_machine_arn)

    def _with_role_propagation(self, call: Callable[[], None]) -> None:
        with aws_errors(f"writing state machine {self.state_machine_name}"):
            for attempt in range(ROLE_PROPAGATION_ATTEMPTS):
                try:
                    call()
                    return
                except ClientError as exc:
                    if error_code(exc) != "AccessDeniedException" or attempt == ROLE_PROPAGATION_ATTEMPTS - 1:
                        raise
                    time.sleep(ROLE_PROPAGATION_DELAY)
