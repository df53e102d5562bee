"""Refuse, before running anything, every part of a definition the local runner does not implement.

Nothing is ignored silently: an unknown state type, field, resource or choice
operator is an ``UnsupportedDefinition`` naming the state and the field.
"""

from __future__ import annotations

from typing import Any

from lease_ops.local_runner import intrinsics
from lease_ops.local_runner.choice import check_rule
from lease_ops.local_runner.errors import UnsupportedDefinition
from lease_ops.local_runner.paths import compiled

COMMON = {"Type", "Comment", "InputPath", "OutputPath"}
FLOW = {"Next", "End"}
ALLOWED_FIELDS = {
    "Pass": COMMON | FLOW | {"Result", "ResultPath", "Parameters"},
    "Task": COMMON
    | FLOW
    | {
        "Resource",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "Retry",
        "Catch",
        "TimeoutSeconds",
        "HeartbeatSeconds",
    },
    "Choice": COMMON | {"Choices", "Default"},
    "Wait": COMMON | FLOW | {"Seconds", "SecondsPath"},
    "Succeed": COMMON,
    "Fail": {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath"},
}
TOP_LEVEL_FIELDS = {"StartAt", "States", "Comment", "Version"}
RETRY_FIELDS = {
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
}
CATCH_FIELDS = {"ErrorEquals", "Next", "ResultPath", "Comment"}
WAIT_FOR_TASK_TOKEN = ".waitForTaskToken"
LAMBDA_INVOKE_SUFFIXES = (":states:::lambda:invoke", ":states:::lambda:invoke" + WAIT_FOR_TASK_TOKEN)


def is_lambda_function_arn(resource: str) -> bool:
    parts = resource.split(":")
    return len(parts) >= 7 and parts[0] == "arn" and parts[2] == "lambda" and parts[5] == "function"


def _check_path(path: str) -> None:
    compiled("$" + path[2:] if path.startswith("$$") else path)


def _check_templates(template: Any, where: str) -> None:
    if isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$") and intrinsics.is_intrinsic(value):
                intrinsics.check(value, f"{where}: {key!r}", _check_path)
            elif key.endswith(".$") and not (isinstance(value, str) and value.startswith("$")):
                raise UnsupportedDefinition(
                    f"{where}: {key!r} uses {value!r}; the local runner supports paths and States.Format only"
                )
            _check_templates(value, where)
    elif isinstance(template, list):
        for item in template:
            _check_templates(item, where)


def _check_task(name: str, state: dict[str, Any]) -> None:
    resource = state.get("Resource", "")
    if "HeartbeatSeconds" in state and not resource.endswith(WAIT_FOR_TASK_TOKEN):
        raise UnsupportedDefinition(f"state {name!r}: field 'HeartbeatSeconds' needs a .waitForTaskToken resource")
    if not (resource.endswith(LAMBDA_INVOKE_SUFFIXES) or is_lambda_function_arn(resource)):
        raise UnsupportedDefinition(
            f"state {name!r}: field 'Resource' is {resource!r}; the local runner runs Lambda tasks only"
        )
    if resource.endswith(LAMBDA_INVOKE_SUFFIXES) and "FunctionName" not in state.get("Parameters", {}):
        raise UnsupportedDefinition(f"state {name!r}: field 'Parameters' needs a FunctionName for {resource}")
    for index, retrier in enumerate(state.get("Retry", [])):
        for key in set(retrier) - RETRY_FIELDS:
            raise UnsupportedDefinition(f"state {name!r}: field 'Retry[{index}].{key}' is not supported")
        if retrier.get("JitterStrategy", "NONE") not in {"NONE", "FULL"}:
            raise UnsupportedDefinition(f"state {name!r}: field 'Retry[{index}].JitterStrategy' must be FULL or NONE")
    for index, catcher in enumerate(state.get("Catch", [])):
        for key in set(catcher) - CATCH_FIELDS:
            raise UnsupportedDefinition(f"state {name!r}: field 'Catch[{index}].{key}' is not supported")


def check_definition(definition: dict[str, Any]) -> None:
    """Raise ``UnsupportedDefinition`` for anything the runner would otherwise have to guess about."""
    for key in set(definition) - TOP_LEVEL_FIELDS:
        raise UnsupportedDefinition(f"definition: top-level field {key!r} is not supported by the local runner")
    states = definition.get("States", {})
    if definition.get("StartAt") not in states:
        raise UnsupportedDefinition(f"definition: StartAt {definition.get('StartAt')!r} is not a state")
    for name, state in states.items():
        kind = state.get("Type")
        if kind not in ALLOWED_FIELDS:
            raise UnsupportedDefinition(
                f"state {name!r}: field 'Type' is {kind!r}, which the local runner does not run"
            )
        for key in sorted(set(state) - ALLOWED_FIELDS[kind]):
            raise UnsupportedDefinition(f"state {name!r}: field {key!r} is not supported by the local runner")
        if kind == "Task":
            _check_task(name, state)
        if kind == "Choice":
            for index, rule in enumerate(state.get("Choices", [])):
                check_rule(rule, f"state {name!r}: Choices[{index}]", top_level=True)
        for field in ("Parameters", "ResultSelector"):
            _check_templates(state.get(field), f"state {name!r}: field {field!r}")
        targets = [state.get("Next"), state.get("Default")]
        targets += [rule.get("Next") for rule in state.get("Choices", [])]
        targets += [catcher.get("Next") for catcher in state.get("Catch", [])]
        for target in filter(None, targets):
            if target not in states:
                raise UnsupportedDefinition(f"state {name!r}: transition to {target!r}, which is not a state")
