"""The platform's own CloudFormation templates: the lease table, and a stage's workflows.

They declare what `make bootstrap` and `make workflows` create call by call, built by the same functions:
the table's key schema, TTL, billing, encryption, point-in-time recovery, deletion protection and tags
(``lease_ops.aws.table``); per workload the role (``trust_policy``, ``invoke_policy``, ``role_statements``), the
state machine's log group and the Standard state machine running the definition `make workflows` deploys
(``render_definition``), with its logging and tracing (``lease_ops.provisioning.state_machine_logs``). Where those name
an account, region or partition, the templates have CloudFormation's pseudo parameters (``Fn::Sub``), so
the workflows invoke the functions the apps' SAM templates name ``<app_name>-<stage>-<function>``
(``lease_ops.packaging.sam_templates``) in whatever account the stack is created.

Two templates, because the table is not a stage's: every stage of the platform in a region shares it (its
name carries no stage), while each stage has its own workflows. The table is kept when its stack goes
(``DeletionPolicy: Retain``), as `make destroy` keeps it unless told otherwise.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lease_ops.aws.table import (
    ATTRIBUTE_DEFINITIONS,
    BILLING_MODE,
    KEY_SCHEMA,
    MANAGED_BY_TAG,
    SSE_TYPE,
    TTL_ATTRIBUTE,
)
from lease_ops.config.aws_partitions import Partition
from lease_ops.config.platform_config import PlatformConfig, WorkloadConfig
from lease_ops.definitions.deployed_functions import FUNCTION_NAMES, chalice_named_arns
from lease_ops.definitions.workflow_builder import LeaseFunctions
from lease_ops.provisioning.state_machine_logs import StateMachineLogs, role_statements
from lease_ops.provisioning.workflows import (
    INVOKE_POLICY_NAME,
    invoke_policy,
    invoked_functions,
    render_definition,
    role_description,
    state_machine_tags,
    trust_policy,
)

TEMPLATE_FORMAT_VERSION = "2010-09-09"
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html
PSEUDO_PARAMETERS = ("AWS::AccountId", "AWS::Partition", "AWS::Region", "AWS::URLSuffix")
# Every "${" of a string under Fn::Sub that is not one of ours stays literal: "${!" is Fn::Sub's escape.
_NOT_A_PSEUDO_PARAMETER = re.compile(r"\$\{(?!(?:" + "|".join(map(re.escape, PSEUDO_PARAMETERS)) + r")\})")


class CloudFormationScope:
    """The account, region and partition of whichever stack the template becomes (an ``ArnScope``)."""

    region = "${AWS::Region}"
    account_id = "${AWS::AccountId}"
    partition = Partition("${AWS::Partition}", "${AWS::URLSuffix}")

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:{self.partition.name}:{service}:{self.region if region else ''}:{self.account_id}:{resource}"


CLOUDFORMATION_SCOPE = CloudFormationScope()


def with_pseudo_parameters(value: Any) -> Any:
    """``value`` with every string that names a pseudo parameter turned into an ``Fn::Sub`` of it."""
    if isinstance(value, dict):
        return {key: with_pseudo_parameters(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_pseudo_parameters(item) for item in value]
    if isinstance(value, str) and any(f"${{{name}}}" in value for name in PSEUDO_PARAMETERS):
        return {"Fn::Sub": _NOT_A_PSEUDO_PARAMETER.sub("${!", value)}
    return value


def _capitalized_keys(value: Any) -> Any:
    """The Step Functions API's camelCase settings as CloudFormation's PascalCase properties."""
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: _capitalized_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_capitalized_keys(item) for item in value]
    return value


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def logical_id(*words: str) -> str:
    """A CloudFormation logical ID (letters and digits) from names such as a workload's."""
    return "".join(part[:1].upper() + part[1:] for word in words for part in re.split(r"[^A-Za-z0-9]+", word))


def table_template(config: PlatformConfig) -> dict[str, Any]:
    """The lease table as `make bootstrap` creates it (deletion protection on, its default)."""
    return {
        "AWSTemplateFormatVersion": TEMPLATE_FORMAT_VERSION,
        "Description": f"{config.platform}: the lease table {config.table}, shared by every stage and workload",
        "Resources": {
            "LeaseTable": {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "TableName": config.table,
                    "KeySchema": KEY_SCHEMA,
                    "AttributeDefinitions": ATTRIBUTE_DEFINITIONS,
                    "BillingMode": BILLING_MODE,
                    "SSESpecification": {"SSEEnabled": True, "SSEType": SSE_TYPE},
                    "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "DeletionProtectionEnabled": True,
                    "Tags": _tags({MANAGED_BY_TAG: config.platform}),
                },
            }
        },
        "Outputs": {
            "LeaseTableName": {"Value": {"Ref": "LeaseTable"}},
            "LeaseTableArn": {"Value": {"Fn::GetAtt": ["LeaseTable", "Arn"]}},
        },
    }


def workflow_definition(config: PlatformConfig, workload: WorkloadConfig) -> dict[str, Any]:
    """The definition `make workflows` renders, invoking the functions Chalice names, wherever the stack is."""
    scope = CLOUDFORMATION_SCOPE
    arns = chalice_named_arns(
        workload, config.stage, region=scope.region, account_id=scope.account_id, partition=scope.partition.name
    )
    return render_definition(
        config, workload, LeaseFunctions(*(arns[name] for name in FUNCTION_NAMES)), scope.partition.name
    )


def _workflow_resources(config: PlatformConfig, workload: WorkloadConfig) -> dict[str, dict[str, Any]]:
    scope = CLOUDFORMATION_SCOPE
    name = config.state_machine_name(workload)
    definition = workflow_definition(config, workload)
    logs = StateMachineLogs(scope, config, name)
    role_id, group_id, state_machine_id = (
        logical_id(workload.name, kind) for kind in ("WorkflowRole", "WorkflowLogs", "Workflow")
    )
    resources: dict[str, dict[str, Any]] = {
        role_id: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": config.role_name(workload),
                "Description": role_description(name),
                "AssumeRolePolicyDocument": with_pseudo_parameters(
                    trust_policy(scope, scope.arn("states", f"stateMachine:{name}"))
                ),
                "Policies": [
                    {
                        "PolicyName": INVOKE_POLICY_NAME,
                        "PolicyDocument": with_pseudo_parameters(
                            invoke_policy(invoked_functions(definition), role_statements(config))
                        ),
                    }
                ],
                "Tags": _tags({MANAGED_BY_TAG: config.platform}),
            },
        }
    }
    state_machine: dict[str, Any] = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {
            "StateMachineName": name,
            "StateMachineType": "STANDARD",
            "RoleArn": {"Fn::GetAtt": [role_id, "Arn"]},
            "DefinitionString": with_pseudo_parameters(json.dumps(definition, indent=2)),
            "LoggingConfiguration": with_pseudo_parameters(_capitalized_keys(logs.logging_configuration)),
            "TracingConfiguration": _capitalized_keys(logs.tracing_configuration),
            "Tags": _tags(state_machine_tags(config, workload)),
        },
    }
    if config.state_machine_log_level != "OFF":
        resources[group_id] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": logs.group,
                "RetentionInDays": config.log_retention_days,
                "Tags": _tags({MANAGED_BY_TAG: config.platform}),
            },
        }
        state_machine["DependsOn"] = [group_id]
    resources[state_machine_id] = state_machine
    return resources


def workflows_template(config: PlatformConfig) -> dict[str, Any]:
    """Each workload's role, log group and Standard state machine for ``config.stage``."""
    resources: dict[str, dict[str, Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for workload in config.workloads.values():
        workload_resources = _workflow_resources(config, workload)
        if set(workload_resources) & set(resources):
            raise ValueError(f"workload {workload.name!r} gives the same logical IDs as another workload")
        resources.update(workload_resources)
        state_machine_id = logical_id(workload.name, "Workflow")
        outputs[f"{state_machine_id}Arn"] = {"Value": {"Ref": state_machine_id}}
    return {
        "AWSTemplateFormatVersion": TEMPLATE_FORMAT_VERSION,
        "Description": f"{config.platform} {config.stage}: each workload's Step Functions workflow and its role",
        "Resources": resources,
        "Outputs": outputs,
    }
