"""Run Lambda tasks in-process on the Chalice apps' own handlers, found by their deployed function names.

``chalice deploy`` names a function ``<app_name>-<stage>-<name>``; the
dispatcher registers every ``@app.lambda_function`` of each app under that name,
with the stage's ``environment_variables`` from ``.chalice/config.json``. A call
gets JSON in and JSON out, as through the Lambda service, and a handler's
exception becomes the error Step Functions would report: its class name, with
Lambda's ``{"errorMessage", "errorType", "stackTrace"}`` as the cause.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice import Chalice
from chalice.local import LambdaContext

from lease_core.settings import invocation_environment
from lease_ops.config.chalice_apps import function_timeout, load_chalice_app
from lease_ops.local_runner.errors import StatesError
from lease_ops.local_runner.execution import TaskContext


@dataclass(frozen=True)
class Invocation:
    """One call of a registered function, as an interceptor sees it."""

    function_name: str
    name: str  # the function's name inside its app, e.g. "process"
    app_name: str
    environment: Mapping[str, str]
    task: TaskContext


# An interceptor wraps calls: it receives the invocation, the payload and the next step to call.
Interceptor = Callable[[Invocation, Any, Callable[[Any], Any]], Any]


@dataclass(frozen=True)
class _Function:
    name: str
    app_name: str
    handler: Callable[[Any, Any], Any]
    environment: Mapping[str, str]
    timeout_seconds: int  # the function's own timeout: what its context says it may still run at the start


def stage_environment(app_dir: Path, stage: str) -> dict[str, str]:
    """The stage's environment_variables of an app, as Chalice deploys them."""
    config = json.loads((app_dir / ".chalice" / "config.json").read_text())
    return {
        **config.get("environment_variables", {}),
        **config.get("stages", {}).get(stage, {}).get("environment_variables", {}),
    }


def function_name_of(resource: str) -> str:
    """``arn:aws:lambda:region:account:function:name[:qualifier]`` (or a bare name) → ``name``."""
    parts = resource.split(":")
    return parts[6] if len(parts) >= 7 and parts[5] == "function" else resource


class ChaliceLambdaDispatcher:
    def __init__(self, stage: str, base_environment: Mapping[str, str]) -> None:
        self.stage = stage
        self.base_environment = dict(base_environment)
        self._functions: dict[str, _Function] = {}
        self._interceptors: list[Interceptor] = []

    def add_app(self, app_dir: Path, *, environment: Mapping[str, str] | None = None) -> Chalice:
        app = load_chalice_app(app_dir)
        merged = {**self.base_environment, **stage_environment(app_dir, self.stage), **(environment or {})}
        config = json.loads((app_dir / ".chalice" / "config.json").read_text())
        for function in app.pure_lambda_functions:
            full_name = f"{app.app_name}-{self.stage}-{function.name}"
            self._functions[full_name] = _Function(
                function.name,
                app.app_name,
                app.handler_map[function.name],
                merged,
                function_timeout(config, self.stage, function.name),
            )
        return app

    def add_interceptor(self, interceptor: Interceptor) -> None:
        self._interceptors.append(interceptor)

    @property
    def function_names(self) -> list[str]:
        return sorted(self._functions)

    def invoke(self, function: str, payload: Any, context: TaskContext) -> Any:
        full_name = function_name_of(function)
        registered = self._functions.get(full_name)
        if registered is None:
            raise StatesError("Lambda.ResourceNotFoundException", f"Function not found: {function}")
        invocation = Invocation(full_name, registered.name, registered.app_name, registered.environment, context)

        def call_handler(event: Any) -> Any:
            lambda_context = LambdaContext(full_name, memory_size=256, max_runtime_ms=registered.timeout_seconds * 1000)
            with invocation_environment(registered.environment):
                return registered.handler(json.loads(json.dumps(event)), lambda_context)

        call = call_handler
        for interceptor in reversed(self._interceptors):
            call = _wrap(interceptor, invocation, call)
        try:
            return json.loads(json.dumps(call(payload)))
        except StatesError:
            raise
        except Exception as exc:
            error_type = type(exc).__name__
            cause = {
                "errorMessage": str(exc),
                "errorType": error_type,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
            raise StatesError(error_type, json.dumps(cause)) from exc


def _wrap(interceptor: Interceptor, invocation: Invocation, inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda event: interceptor(invocation, event, inner)
