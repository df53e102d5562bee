"""Step Functions as the burst benchmark runs it: the real rendered definition's parameters, and a callback
service for ``.waitForTaskToken`` tasks.

``render_workflow`` renders the analytics workload's definition with
``lease_ops.provisioning.workflows.render_definition``
(the code ``make workflows`` deploys) in the wait mode asked for, and the simulation reads from it
everything that decides timing and failure: each task's ``Retry`` and ``Catch``, the ``CheckLease``
Choice rules (poll mode's wait ladder, ``lease_ops.definitions.workflow_builder.WAIT_LADDER``), the ``Seconds`` of
each Wait state, and the handoff Acquire task's ``TimeoutSeconds`` (its re-check). Retry follows
https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html: the n-th retry waits
``IntervalSeconds * BackoffRate**(n-1)``, at most ``MaxDelaySeconds``, and with ``JitterStrategy``
FULL a random time between 0 and that; ``MaxAttempts`` counts retries per retrier, afresh each time
the state is entered; then the first matching ``Catch`` decides. ``States.ALL`` matches any error,
``States.TaskFailed`` any but a timeout.

``StepFunctionsModel`` answers ``SendTaskSuccess`` (and ``DescribeExecution``, which the core asks when
a token's task closed) for the core's ``task_callbacks``: the waiting task completes, and its execution
resumes after a modelled latency. A token names one attempt of one task; once that attempt has
closed (timed out, failed, or already told) SendTaskSuccess answers ``TaskTimedOut``
(https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html).
"""

from __future__ import annotations

import copy
import json
import random
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from benchmarks.burst.simulation import Simulation
from lease_ops.config.chalice_apps import function_timeout
from lease_ops.config.platform_config import load_platform_config
from lease_ops.config.workload_settings import INVOKE_MARGIN_SECONDS
from lease_ops.definitions.history_quota import wait_range
from lease_ops.definitions.workflow_builder import (
    ACQUIRE,
    CHECK_LEASE,
    PROCESS,
    RELEASE,
    RELEASE_AFTER_FAILURE,
    LeaseFunctions,
)
from lease_ops.provisioning.workflows import render_definition

ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
WORKLOAD = "analytics"  # the workload whose rendered definition drives every simulated execution
TOKEN_BYTES = 1024  # "task tokens of about 1 KB" (issue 14)


@dataclass(frozen=True)
class Workflow:
    """The parts of one rendered definition the simulation runs."""

    wait_mode: str
    definition: dict[str, Any]
    lease_function_timeout: int  # seconds: acquire and release Lambdas (the stage's lambda_timeout)
    process_check_seconds: int  # Process checks its lease is live this long (the process Lambda's timeout)

    @property
    def states(self) -> dict[str, dict[str, Any]]:
        return self.definition["States"]

    def state(self, name: str) -> dict[str, Any]:
        return self.states[name]

    @property
    def recheck_seconds(self) -> int | None:
        """Handoff: how long the Acquire task waits for its callback before re-checking."""
        return self.state(ACQUIRE).get("TimeoutSeconds") if self.wait_mode == "handoff" else None

    def wait_range(self, name: str) -> tuple[int, int]:
        """The shortest and longest wait of the Wait state ``name`` (a rung's is drawn at each poll)."""
        return wait_range(self.state(name), self.state(ACQUIRE))

    def next_after_check(self, lease: dict[str, Any]) -> str:
        """Where ``CheckLease`` sends an execution whose task result is ``lease`` (at ``$.lease``)."""
        return choose(self.state(CHECK_LEASE), {"lease": lease})


def render_workflow(wait_mode: str) -> Workflow:
    """The analytics workload's definition in ``wait_mode``, rendered as ``make workflows`` renders it."""
    config = load_platform_config()
    workload = replace(config.workload(WORKLOAD), wait_mode=wait_mode)
    base = f"arn:aws:lambda:{config.region}:123456789012:function:{config.platform}-{workload.name}-{config.stage}"
    functions = LeaseFunctions(f"{base}-acquire", f"{base}-release", f"{base}-renew", f"{base}-process")
    definition = render_definition(config, workload, functions, "aws")
    chalice = workload.chalice_config()
    process = definition["States"][PROCESS]
    return Workflow(
        wait_mode=wait_mode,
        definition=copy.deepcopy(definition),
        lease_function_timeout=function_timeout(chalice, config.stage, "acquire"),
        process_check_seconds=int(process["TimeoutSeconds"]) - INVOKE_MARGIN_SECONDS,
    )


# -- ASL semantics ----------------------------------------------------------------------------------


def error_matches(error_equals: list[str], error: str) -> bool:
    if error in error_equals or ALL in error_equals:
        return True
    return TASK_FAILED in error_equals and error != TIMEOUT


@dataclass
class RetryCounts:
    """Retries made per retrier since the state was entered."""

    counts: Counter[int] = field(default_factory=Counter)

    def next_delay(self, state: dict[str, Any], error: str, rng: random.Random) -> float | None:
        """Seconds before the next attempt, or None when no retrier applies any more (then Catch)."""
        for index, retrier in enumerate(state.get("Retry", [])):
            if not error_matches(retrier["ErrorEquals"], error):
                continue
            made = self.counts[index]
            if made >= int(retrier.get("MaxAttempts", 3)):
                return None
            self.counts[index] += 1
            delay = float(retrier.get("IntervalSeconds", 1)) * float(retrier.get("BackoffRate", 2.0)) ** made
            if "MaxDelaySeconds" in retrier:
                delay = min(delay, float(retrier["MaxDelaySeconds"]))
            if retrier.get("JitterStrategy", "NONE") == "FULL":
                delay = rng.uniform(0, delay)
            return delay
        return None


def catch_target(state: dict[str, Any], error: str) -> str | None:
    for catcher in state.get("Catch", []):
        if error_matches(catcher["ErrorEquals"], error):
            return str(catcher["Next"])
    return None


def _path(data: Any, path: str) -> tuple[bool, Any]:
    value = data
    for part in path.removeprefix("$.").split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _rule_holds(rule: dict[str, Any], data: dict[str, Any]) -> bool:
    if "And" in rule:
        return all(_rule_holds(inner, data) for inner in rule["And"])
    if "Or" in rule:
        return any(_rule_holds(inner, data) for inner in rule["Or"])
    if "Not" in rule:
        return not _rule_holds(rule["Not"], data)
    present, value = _path(data, rule["Variable"])
    if "IsPresent" in rule:
        return present == rule["IsPresent"]
    if not present:
        raise ValueError(f"States.Runtime: {rule['Variable']} is missing")
    if "StringEquals" in rule:
        return isinstance(value, str) and value == rule["StringEquals"]
    if "NumericGreaterThanEquals" in rule:
        return isinstance(value, int | float) and value >= rule["NumericGreaterThanEquals"]
    if "BooleanEquals" in rule:
        return value is rule["BooleanEquals"]
    raise ValueError(f"unsupported Choice rule {sorted(rule)}")


def choose(state: dict[str, Any], data: dict[str, Any]) -> str:
    """The Next of a Choice state for ``data``: the first rule that holds, else its Default."""
    for rule in state["Choices"]:
        if _rule_holds(rule, data):
            return str(rule["Next"])
    return str(state["Default"])


# -- the callback service ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackLatencies:
    """Assumed, in simulated seconds (uniform in each range)."""

    api_call: tuple[float, float] = (0.010, 0.030)  # SendTaskSuccess / DescribeExecution, as the caller waits
    resume: tuple[float, float] = (0.020, 0.060)  # from SendTaskSuccess to the next state's start


@dataclass
class TaskWait:
    """One open ``.waitForTaskToken`` attempt: told (``on_output``) at most once."""

    execution_arn: str
    on_output: Callable[[dict[str, Any]], None]
    open: bool = True


class StepFunctionsModel:
    def __init__(self, simulation: Simulation, rng: random.Random, latencies: CallbackLatencies = CallbackLatencies()):
        self.simulation = simulation
        self.rng = rng
        self.latencies = latencies
        self.waits: dict[str, TaskWait] = {}
        self.statuses: dict[str, str] = {}  # execution ARN -> RUNNING / SUCCEEDED / FAILED
        self.calls: Counter[str] = Counter()

    def new_token(self, execution_arn: str, on_output: Callable[[dict[str, Any]], None]) -> tuple[str, TaskWait]:
        serial = f"{len(self.waits):09d}"
        padding = "".join(self.rng.choices(string.ascii_letters + string.digits, k=TOKEN_BYTES - len(serial)))
        token = serial + padding
        wait = self.waits[token] = TaskWait(execution_arn, on_output)
        return token, wait

    def client(self) -> StepFunctionsClient:
        return StepFunctionsClient(self)

    def _pause(self) -> None:
        self.simulation.sleep(self.rng.uniform(*self.latencies.api_call))

    def send_task_success(self, taskToken: str, output: str) -> dict[str, Any]:
        """Decided when called (the service's own time is in the caller's one pause)."""
        self.calls["SendTaskSuccess"] += 1
        wait = self.waits.get(taskToken)
        if wait is None or not wait.open:
            self._pause()
            raise ClientError(
                {"Error": {"Code": "TaskTimedOut", "Message": "Task Timed Out"}}, operation_name="SendTaskSuccess"
            )
        wait.open = False
        answer = json.loads(output)
        self.simulation.after(self.rng.uniform(*self.latencies.resume), lambda: wait.on_output(answer))
        self._pause()
        return {}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        self.calls["DescribeExecution"] += 1
        status = self.statuses.get(executionArn)
        self._pause()
        if status is None:
            raise ClientError(
                {"Error": {"Code": "ExecutionDoesNotExist", "Message": executionArn}}, "DescribeExecution"
            )
        return {"executionArn": executionArn, "status": status, "redriveCount": 0}


class StepFunctionsClient:
    """What the core calls on its Step Functions client, answered by the model in simulated time."""

    def __init__(self, model: StepFunctionsModel) -> None:
        self._model = model

    def send_task_success(self, **request: Any) -> dict[str, Any]:
        return self._model.send_task_success(**request)

    def describe_execution(self, **request: Any) -> dict[str, Any]:
        return self._model.describe_execution(**request)


TASK_STATES = (ACQUIRE, PROCESS, RELEASE, RELEASE_AFTER_FAILURE)
