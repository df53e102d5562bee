"""The AWS account and region the operator tools act on, and one-line errors for every AWS failure.

``AWS_ENDPOINT_URL`` (or ``--endpoint-url``) points every client at another
endpoint, such as a moto server, so the whole bootstrap → workflows → destroy
sequence runs without an account.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from lease_ops.config.aws_partitions import Partition, partition_of
from lease_ops.errors import AwsCallFailed, MissingCredentials

OPERATOR_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Turn any AWS failure while ``doing`` something into a one-line operator error."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise MissingCredentials(
            f"no AWS credentials found while {doing}: configure a profile (AWS_PROFILE) or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        ) from exc
    except EndpointConnectionError as exc:
        raise AwsCallFailed(f"cannot reach AWS while {doing}: {exc}") from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        if code in {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"}:
            raise MissingCredentials(f"AWS rejected the credentials while {doing}: {code}") from exc
        raise AwsCallFailed(f"{doing} failed: {code}: {error.get('Message', '')}") from exc
    except BotoCoreError as exc:
        raise AwsCallFailed(f"{doing} failed: {exc}") from exc


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class ArnScope(Protocol):
    """Where ARNs and principals point: an account and region (``AwsTarget``), or CloudFormation's pseudo
    parameters in a template (``lease_ops.packaging.platform_template.CLOUDFORMATION_SCOPE``)."""

    region: str
    partition: Partition

    @property
    def account_id(self) -> str: ...

    def arn(self, service: str, resource: str, *, region: bool = True) -> str: ...


def delete_role(iam: Any, name: str) -> None:
    """Delete an IAM role: its inline and attached policies first, as IAM requires; gone already is fine."""
    with aws_errors(f"deleting role {name}"):
        try:
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
            for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
            iam.delete_role(RoleName=name)
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise


class AwsTarget:
    """Clients for one region (and optional endpoint), with the account and partition they act in."""

    def __init__(self, region: str, endpoint_url: str | None = None, *, account_id: str | None = None) -> None:
        self.region = region
        if account_id is not None:
            self.__dict__["account_id"] = account_id  # known already: no STS call
        self.partition: Partition = partition_of(region)
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self._session = boto3.session.Session(region_name=region)
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(
                service, endpoint_url=self.endpoint_url, config=OPERATOR_CLIENT_CONFIG
            )
        return self._clients[service]

    @cached_property
    def account_id(self) -> str:
        with aws_errors("looking up the AWS account (sts:GetCallerIdentity)"):
            return str(self.client("sts").get_caller_identity()["Account"])

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:{self.partition.name}:{service}:{self.region if region else ''}:{self.account_id}:{resource}"

    def subprocess_environment(self) -> dict[str, str]:
        """Environment for a child process (chalice) acting on the same region and endpoint."""
        environment = {**os.environ, "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}
        if self.endpoint_url:
            environment["AWS_ENDPOINT_URL"] = self.endpoint_url
        return environment
