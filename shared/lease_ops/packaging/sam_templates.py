"""Make a `chalice package` SAM template deployable: its functions named as `chalice deploy` names them.

`chalice package` leaves ``FunctionName`` out of every ``AWS::Serverless::Function``, so CloudFormation would
make names up, while everything else expects Chalice's names, ``<app_name>-<stage>-<function>`` (the API
handler: ``<app_name>-<stage>``): the policy files' log-group ARNs (``lease_ops.config.app_config``), the workflows'
Lambda ARNs and their roles' invoke policy (``lease_ops.definitions.deployed_functions``). The names come from Chalice's
own application graph, the models `chalice deploy` creates (``chalice.deploy.appgraph``), not from a copy of
its naming rule.

It also mends a Chalice bug: with ``log_retention_in_days`` the API handler's log group is named after
``${ApiHandler}``, which the template does not have, since Chalice renames that function ``APIHandler``
(https://github.com/aws/chalice/issues/2079); CloudFormation refuses such a template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalice.config import Config
from chalice.deploy import models
from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
from chalice.utils import to_cfn_resource_name

from lease_ops.config.chalice_apps import load_chalice_app
from lease_ops.errors import DeploymentFailed

FUNCTION_TYPE = "AWS::Serverless::Function"
LOG_GROUP_TYPE = "AWS::Logs::LogGroup"
API_HANDLER = "APIHandler"  # the logical ID chalice package gives the REST API's function


@dataclass(frozen=True)
class ChaliceFunctions:
    """An app's functions for one stage: the name `chalice deploy` gives each, by its logical ID in the
    SAM template, and the logical IDs chalice package renames (old → new)."""

    names: dict[str, str]
    renamed: dict[str, str] = field(default_factory=dict)


def chalice_functions(app_dir: Path, stage: str) -> ChaliceFunctions:
    """What `chalice deploy --stage <stage>` would name each function of the app in ``app_dir``."""
    disk = json.loads((app_dir / ".chalice" / "config.json").read_text())
    config = Config.create(
        chalice_stage=stage,
        app_name=disk["app_name"],
        project_dir=str(app_dir),
        config_from_disk=disk,
        chalice_app=load_chalice_app(app_dir),
    )
    resources = DependencyBuilder().build_dependencies(ApplicationGraphBuilder().build(config, stage))
    names = {
        to_cfn_resource_name(resource.resource_name): resource.function_name
        for resource in resources
        if isinstance(resource, models.LambdaFunction)
    }
    renamed = {}
    for resource in resources:
        if isinstance(resource, models.RestAPI):
            old = to_cfn_resource_name(resource.lambda_function.resource_name)
            names[API_HANDLER] = names.pop(old)
            renamed[old] = API_HANDLER
    return ChaliceFunctions(names, renamed)


def name_functions(template: dict[str, Any], functions: ChaliceFunctions, app: str) -> dict[str, str]:
    """Give every function of ``template`` its Chalice name (in place); returns logical ID → name."""
    resources = template["Resources"]
    named = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != FUNCTION_TYPE:
            continue
        if logical_id not in functions.names:
            raise DeploymentFailed(
                f"chalice package of {app} wrote a function {logical_id} that Chalice's application graph does not "
                "have: cannot name it as chalice deploy would"
            )
        resource["Properties"]["FunctionName"] = named[logical_id] = functions.names[logical_id]
    if set(named) != set(functions.names):
        raise DeploymentFailed(
            f"chalice package of {app} left out {', '.join(sorted(set(functions.names) - set(named)))}"
        )
    for resource in resources.values():
        group = resource["Properties"].get("LogGroupName") if resource["Type"] == LOG_GROUP_TYPE else None
        if isinstance(group, dict) and isinstance(group.get("Fn::Sub"), str):
            for old, new in functions.renamed.items():
                group["Fn::Sub"] = group["Fn::Sub"].replace(f"${{{old}}}", f"${{{new}}}")
    return named
