"""Fixtures of the functional tier: Step Functions on moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

REGION = "eu-central-1"


@pytest.fixture
def stepfunctions(dynamodb: Any) -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def state_machine(stepfunctions: Any) -> str:
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="sfn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    return stepfunctions.create_state_machine(name="wf", definition=json.dumps(definition), roleArn=role)[
        "stateMachineArn"
    ]
