"""What a Chalice app of this platform left in the account for a stage, found by name and tag, not by record.

``chalice delete`` reads ``.chalice/deployed/<stage>.json``, which ``chalice deploy`` does not write when it
fails half-way, and which another machine does not have. So ``make destroy`` also looks the app's resources
up by the names Chalice gives them (``<app_name>-<stage>`` and ``<app_name>-<stage>-<name>``) and removes
what it finds:

- Lambda functions of that name that carry Chalice's ``aws-chalice`` tag for this app and stage;
- the EventBridge rules ``<app_name>-<stage>-<name>-event`` (their targets first);
- the REST API named ``<app_name>`` whose integrations call this stage's ``<app_name>-<stage>`` function;
- the functions' roles (trusted by Lambda, not tagged as a workflow role) and their log groups.

Every lookup is by an exact name, computed from the app's own functions (a prefix could match another
platform's or app's names), so another app's, another stage's or someone else's resources are never touched.
Rerunning finds nothing and changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lease_ops.aws.aws_target import AwsTarget, aws_errors, delete_role, error_code
from lease_ops.aws.plan import Plan
from lease_ops.aws.table import MANAGED_BY_TAG
from lease_ops.config.chalice_apps import load_chalice_app

CHALICE_TAG = "aws-chalice"  # chalice tags each function version=<v>:stage=<stage>:app=<app_name>


def chalice_tag_fields(tags: dict[str, str]) -> dict[str, str]:
    """Chalice's tag of a function as fields: ``{"version": ..., "stage": ..., "app": ...}`` (empty if untagged)."""
    return dict(part.split("=", 1) for part in tags.get(CHALICE_TAG, "").split(":") if "=" in part)


@dataclass(frozen=True)
class ChaliceNames:
    """The exact names Chalice gives one app's resources in one stage (never a prefix: another platform or app
    may have a name that starts like ours)."""

    app_name: str
    stage: str
    functions: frozenset[str]  # the app's Lambda functions and event handlers, by their name in the app
    has_api: bool = False

    @classmethod
    def of_app(cls, app_dir: Path, stage: str) -> ChaliceNames:
        app = load_chalice_app(app_dir)
        names = {function.name for function in app.pure_lambda_functions} | {e.name for e in app.event_sources}
        return cls(app.app_name, stage, frozenset(names), has_api=bool(app.routes))

    @property
    def base(self) -> str:
        return f"{self.app_name}-{self.stage}"

    @property
    def function_names(self) -> set[str]:
        return {f"{self.base}-{name}" for name in self.functions} | ({self.base} if self.has_api else set())

    @property
    def role_names(self) -> set[str]:
        """Chalice's role per function (iam_policy_file per function), the API handler's, and the app's default."""
        return {f"{self.base}-{name}" for name in self.functions} | {f"{self.base}-api_handler", self.base}

    @property
    def log_group_names(self) -> set[str]:
        # Lambda writes the API handler's logs to its function's group; chalice also makes an "-api_handler" one.
        handler = {f"/aws/lambda/{self.base}-api_handler", f"/aws/lambda/{self.base}"} if self.has_api else set()
        return {f"/aws/lambda/{self.base}-{name}" for name in self.functions} | handler

    @property
    def rule_names(self) -> set[str]:
        return {f"{self.base}-{name}-event" for name in self.functions}

    def tagged(self, tags: dict[str, str]) -> bool:
        """Chalice's own tag says this app and stage (``version=<v>:stage=<stage>:app=<app_name>``)."""
        fields = chalice_tag_fields(tags)
        return fields.get("stage") == self.stage and fields.get("app") == self.app_name


def _ignore_missing(call: Any, **arguments: Any) -> None:
    try:
        call(**arguments)
    except ClientError as exc:
        if error_code(exc) not in {"ResourceNotFoundException", "NoSuchEntity", "NotFoundException"}:
            raise


class AppLeftovers:
    """Finds and plans the removal of one app's resources of one stage."""

    def __init__(self, target: AwsTarget, names: ChaliceNames) -> None:
        self.target = target
        self.names = names
        self.lambda_ = target.client("lambda")
        self.events = target.client("events")
        self.iam = target.client("iam")
        self.logs = target.client("logs")
        self.apigateway = target.client("apigateway")

    def plan(self) -> Plan:
        plan = Plan(f"{self.names.app_name} leftovers of stage {self.names.stage} (found by name and tag)")
        for rule in self.rules():
            plan.change(f"delete rule {rule}", lambda rule=rule: self._delete_rule(rule))
        for api in self.rest_apis():
            plan.change(f"delete REST API {self.names.app_name} ({api})", lambda api=api: self._delete_api(api))
        functions = self.functions()
        for function in functions:
            plan.change(f"delete function {function}", lambda f=function: self._delete_function(f))
        for role in self.roles(deployed_here=bool(functions)):
            plan.change(f"delete role {role}", lambda role=role: delete_role(self.iam, role))
        for group in self.log_groups():
            plan.change(
                f"delete log group {group}", lambda g=group: _ignore_missing(self.logs.delete_log_group, logGroupName=g)
            )
        if not plan.changes:
            plan.unchanged(f"nothing of {self.names.base} left")
        return plan

    # -- finding -----------------------------------------------------------------------------

    def functions(self) -> list[str]:
        found = []
        with aws_errors(f"listing the functions of {self.names.base}"):
            for page in self.lambda_.get_paginator("list_functions").paginate():
                for function in page["Functions"]:
                    if function["FunctionName"] in self.names.function_names:
                        tags = self.lambda_.list_tags(Resource=function["FunctionArn"]).get("Tags", {})
                        if self.names.tagged(tags):
                            found.append(function["FunctionName"])
        return sorted(found)

    def rules(self) -> list[str]:
        found = []
        with aws_errors(f"listing the rules of {self.names.base}"):
            for page in self.events.get_paginator("list_rules").paginate(NamePrefix=f"{self.names.base}-"):
                found += [rule["Name"] for rule in page["Rules"] if rule["Name"] in self.names.rule_names]
        return sorted(found)

    def rest_apis(self) -> list[str]:
        """REST APIs of the app's name whose integrations call this stage's API handler."""
        handler = f":function:{self.names.base}/invocations"
        found = []
        with aws_errors(f"listing the REST APIs of {self.names.app_name}"):
            apis = [a for page in self.apigateway.get_paginator("get_rest_apis").paginate() for a in page["items"]]
            for api in apis:
                if api["name"] != self.names.app_name or not self.names.has_api:
                    continue
                pages = self.apigateway.get_paginator("get_resources").paginate(restApiId=api["id"], embed=["methods"])
                resources = [resource for page in pages for resource in page["items"]]
                uris = [
                    (method.get("methodIntegration") or {}).get("uri", "")
                    for resource in resources
                    for method in resource.get("resourceMethods", {}).values()
                ]
                if any(uri.endswith(handler) for uri in uris):
                    found.append(api["id"])
        return found

    def roles(self, *, deployed_here: bool) -> list[str]:
        """Chalice's roles of the app and stage. Their names carry no region and IAM is global, so one goes only
        when the stage's functions were found in this region or the role was last used here, and never when it
        was last used in another region (the same stage deployed there)."""
        found = []
        with aws_errors(f"listing the roles of {self.names.base}"):
            for page in self.iam.get_paginator("list_roles").paginate():
                for role in page["Roles"]:
                    if role["RoleName"] in self.names.role_names and self._is_function_role(role):
                        used_in = self._last_used_region(role["RoleName"])
                        if used_in in (None, self.target.region) and (deployed_here or used_in == self.target.region):
                            found.append(role["RoleName"])
        return sorted(found)

    def _last_used_region(self, role: str) -> str | None:
        last_used = self.iam.get_role(RoleName=role)["Role"].get("RoleLastUsed") or {}
        return last_used.get("Region")

    def _is_function_role(self, role: dict[str, Any]) -> bool:
        """Trusted by Lambda and not a workflow role (those carry our tag and are removed with their workflow)."""
        document = role["AssumeRolePolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        trusted = json.dumps(document.get("Statement", []))
        if "lambda.amazonaws.com" not in trusted:
            return False
        tags = {tag["Key"]: tag["Value"] for tag in self.iam.list_role_tags(RoleName=role["RoleName"])["Tags"]}
        return MANAGED_BY_TAG not in tags

    def log_groups(self) -> list[str]:
        prefix = f"/aws/lambda/{self.names.base}"
        with aws_errors(f"listing the log groups of {self.names.base}"):
            pages = self.logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix)
            groups = [group["logGroupName"] for page in pages for group in page["logGroups"]]
        return sorted(group for group in groups if group in self.names.log_group_names)

    # -- removing ----------------------------------------------------------------------------

    def _delete_rule(self, rule: str) -> None:
        with aws_errors(f"deleting rule {rule}"):
            targets = self.events.list_targets_by_rule(Rule=rule)["Targets"]
            if targets:
                self.events.remove_targets(Rule=rule, Ids=[target["Id"] for target in targets])
            _ignore_missing(self.events.delete_rule, Name=rule)

    def _delete_api(self, api_id: str) -> None:
        with aws_errors(f"deleting REST API {api_id}"):
            _ignore_missing(self.apigateway.delete_rest_api, restApiId=api_id)

    def _delete_function(self, function: str) -> None:
        with aws_errors(f"deleting function {function}"):
            _ignore_missing(self.lambda_.delete_function, FunctionName=function)
