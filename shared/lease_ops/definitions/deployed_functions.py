"""Where a workload's Lambdas are: Chalice's deployed record, or Chalice's naming as a fallback."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lease_ops.config.platform_config import WorkloadConfig
from lease_ops.definitions.workflow_builder import LeaseFunctions
from lease_ops.errors import PlatformConfigError

FUNCTION_NAMES = ("acquire", "release", "renew", "process")


@dataclass(frozen=True)
class ResolvedFunctions:
    functions: LeaseFunctions
    source: str
    warnings: list[str] = field(default_factory=list)


def deployed_record(app_dir: Path, stage: str) -> Path:
    return app_dir / ".chalice" / "deployed" / f"{stage}.json"


def _from_deployed_record(path: Path) -> dict[str, str]:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PlatformConfigError(f"{path} is not a readable Chalice deployed record: {exc}") from None
    return {
        resource["name"]: resource["lambda_arn"]
        for resource in record.get("resources", [])
        if resource.get("resource_type") == "lambda_function" and "lambda_arn" in resource
    }


def chalice_named_arns(
    workload: WorkloadConfig, stage: str, *, region: str, account_id: str, partition: str
) -> dict[str, str]:
    """The ARNs of the workload's four functions as Chalice names them (``<app_name>-<stage>-<function>``): what
    `chalice deploy` creates, and what the packaged CloudFormation templates name them too
    (``lease_ops.packaging.sam_templates``). ``region``, ``account_id`` and ``partition`` may be CloudFormation's pseudo
    parameters."""
    app_name = workload.chalice_config()["app_name"]
    return {
        name: f"arn:{partition}:lambda:{region}:{account_id}:function:{app_name}-{stage}-{name}"
        for name in FUNCTION_NAMES
    }


def resolve_functions(
    workload: WorkloadConfig, stage: str, *, region: str, account_id: str, partition: str
) -> ResolvedFunctions:
    """The workload's four function ARNs for ``stage`` in ``region``."""
    path = deployed_record(workload.app_dir, stage)
    warnings: list[str] = []
    arns = _from_deployed_record(path) if path.is_file() else {}
    missing = [name for name in FUNCTION_NAMES if name not in arns]
    if missing:
        reason = (
            f"{path.relative_to(workload.app_dir.parent)} has no {', '.join(missing)}"
            if path.is_file()
            else (f"{path.relative_to(workload.app_dir.parent)} does not exist (not deployed with chalice yet?)")
        )
        warnings.append(f"{workload.name}: {reason}; deriving ARNs from Chalice's naming <app_name>-<stage>-<function>")
        derived = chalice_named_arns(workload, stage, region=region, account_id=account_id, partition=partition)
        arns.update({name: derived[name] for name in missing})
    for name in FUNCTION_NAMES:
        arn_region = arns[name].split(":")[3]
        if arn_region != region:
            raise PlatformConfigError(
                f"{workload.name}: {name} is deployed in {arn_region} ({path.name}), but the workflows target {region}"
            )
    return ResolvedFunctions(
        LeaseFunctions(*(arns[name] for name in FUNCTION_NAMES)),
        source="derived" if missing else str(path),
        warnings=warnings,
    )
