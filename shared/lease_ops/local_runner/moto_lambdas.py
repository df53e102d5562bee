"""Lambda tasks of executions started on the embedded moto: the deployed function, run in-process on its Chalice app.

moto's own Invoke would need Docker. Here a task's function is found by its name,
``<app_name>-<stage>-<function>`` as ``chalice deploy`` names it, among the
Chalice app folders given: that gives the app and the stage (any stage, so
``dev`` and ``prod`` deployed side by side both run). The ARN gives the account
and region. As on AWS, the function must be deployed: moto's Lambda must have
it (as CreateFunction made it), otherwise the task fails with
``Lambda.ResourceNotFoundException``. It runs with the environment it was
deployed with, not what config.json says now, pointed at the embedded endpoint;
each distinct deployed environment gets its own copy of the app, as a redeploy
with another configuration gets new Lambda containers. The handlers run through
``ChaliceLambdaDispatcher``, so calls, errors and contexts are those of the demo.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID

from lease_ops.config.chalice_apps import load_chalice_app
from lease_ops.local_runner.definition_check import is_lambda_function_arn
from lease_ops.local_runner.errors import StatesError
from lease_ops.local_runner.execution import TaskContext
from lease_ops.local_runner.lambda_dispatch import ChaliceLambdaDispatcher

RESOURCE_NOT_FOUND = "Lambda.ResourceNotFoundException"


@dataclass(frozen=True)
class FunctionAddress:
    """Where a task's function is: Lambda's account, region and function name."""

    account: str
    region: str
    name: str


@dataclass(frozen=True)
class ChaliceFunction:
    """A pure Lambda function of a Chalice app folder, deployed for one stage."""

    app_dir: Path
    stage: str
    name: str  # its name inside the app, e.g. "acquire"


def function_address(function: str, *, region: str, account: str = DEFAULT_ACCOUNT_ID) -> FunctionAddress:
    """A function as Lambda's FunctionName accepts it (an ARN, ``account:function:name`` or a name; a qualifier is
    dropped) → its address; ``region`` and ``account`` fill in what the name leaves out."""
    parts = function.split(":")
    if is_lambda_function_arn(function):
        return FunctionAddress(parts[4], parts[3], parts[6])
    if len(parts) >= 3 and parts[1] == "function":
        return FunctionAddress(parts[0], region, parts[2])
    return FunctionAddress(account, region, parts[0])


class ChaliceFunctions:
    """The pure Lambda functions of some Chalice app folders, found by the names ``chalice deploy`` gives them."""

    def __init__(self, app_dirs: Iterable[Path]) -> None:
        apps = []
        for app_dir in app_dirs:
            app = load_chalice_app(app_dir)
            apps.append((app.app_name, app_dir, frozenset(function.name for function in app.pure_lambda_functions)))
        # One app's name can start another's (shared-lease-platform, shared-lease-platform-batch): longest first.
        self._apps = sorted(apps, key=lambda app: len(app[0]), reverse=True)

    def find(self, function_name: str) -> ChaliceFunction | None:
        """The app function deployed as ``function_name`` (a stage name has no '-'), or None."""
        for app_name, app_dir, names in self._apps:
            if function_name.startswith(app_name + "-"):
                stage, separator, name = function_name[len(app_name) + 1 :].partition("-")
                if separator and stage and name in names:
                    return ChaliceFunction(app_dir, stage, name)
        return None


def task_functions(definition: dict[str, Any]) -> dict[str, str]:
    """Each Lambda task state of a definition → the function it calls (a function ARN, or the FunctionName)."""
    functions = {}
    for name, state in definition.get("States", {}).items():
        if state.get("Type") != "Task":
            continue
        resource = state.get("Resource", "")
        if is_lambda_function_arn(resource):
            functions[name] = resource
        elif "FunctionName" in state.get("Parameters", {}):
            functions[name] = str(state["Parameters"]["FunctionName"])
    return functions


def _deployed_environment(address: FunctionAddress, function: str) -> dict[str, str]:
    """The environment moto's Lambda has for the function; ``Lambda.ResourceNotFoundException`` if not deployed."""
    from moto.awslambda.exceptions import UnknownFunctionException
    from moto.awslambda.models import lambda_backends

    try:
        deployed = lambda_backends[address.account][address.region].get_function(address.name)
    except UnknownFunctionException:
        raise StatesError(RESOURCE_NOT_FOUND, f"Function not found: {function}") from None
    return dict(deployed.environment_vars or {})


class DeployedChaliceLambdas:
    """A task invoker: every task runs the Chalice handler deployed under its function's name."""

    def __init__(self, functions: ChaliceFunctions, endpoint_url: str, *, region: str) -> None:
        self.functions = functions
        self.endpoint_url = endpoint_url
        self.region = region  # of a function named without its region
        self._dispatchers: dict[tuple[Any, ...], ChaliceLambdaDispatcher] = {}
        self._lock = threading.Lock()

    def foreign_tasks(self, definition: dict[str, Any]) -> list[str]:
        """The task states whose function is not one of these apps', each as ``state 'S' calls F``."""
        return [
            f"state {state!r} calls {function}"
            for state, function in task_functions(definition).items()
            if self.functions.find(function_address(function, region=self.region).name) is None
        ]

    def _dispatcher(self, found: ChaliceFunction, address: FunctionAddress, function: str) -> ChaliceLambdaDispatcher:
        pointing = {"AWS_REGION": address.region, "AWS_DEFAULT_REGION": address.region}
        pointing["AWS_ENDPOINT_URL"] = self.endpoint_url
        environment = {**_deployed_environment(address, function), **pointing}
        key = (found.app_dir, found.stage, tuple(sorted(environment.items())))
        with self._lock:
            dispatcher = self._dispatchers.get(key)
            if dispatcher is None:
                dispatcher = ChaliceLambdaDispatcher(found.stage, pointing)
                dispatcher.add_app(found.app_dir, environment=environment)
                self._dispatchers[key] = dispatcher
            return dispatcher

    def invoke(self, function: str, payload: Any, context: TaskContext) -> Any:
        address = function_address(function, region=self.region)
        found = self.functions.find(address.name)
        if found is None:
            raise StatesError(RESOURCE_NOT_FOUND, f"{function} is not a function of this sandbox's Chalice apps")
        return self._dispatcher(found, address, function).invoke(address.name, payload, context)
