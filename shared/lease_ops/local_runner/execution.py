"""One execution of a state machine definition, state by state, as Step Functions runs it.

Input and output processing follows the Amazon States Language: InputPath →
Parameters → task → ResultSelector → ResultPath (applied to the state's raw
input) → OutputPath. Task errors go through Retry (first matching retrier,
its own attempt count, backoff, cap and jitter), then Catch; ``States.Runtime``
errors (a path that matches nothing) fail the execution as they do on AWS.
"""

from __future__ import annotations

import datetime
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lease_ops.local_runner.choice import matches
from lease_ops.local_runner.definition_check import WAIT_FOR_TASK_TOKEN, is_lambda_function_arn
from lease_ops.local_runner.errors import HEARTBEAT_TIMEOUT, RUNTIME, TIMEOUT, StatesError
from lease_ops.local_runner.paths import apply_result_path, resolve_template, select
from lease_ops.local_runner.retry import error_matches, max_attempts, retry_delay
from lease_ops.local_runner.task_tokens import TASK_TOKENS, TaskTokens
from lease_ops.local_runner.timing import Timer


@dataclass(frozen=True)
class TaskContext:
    """What a task invoker learns about the call it serves."""

    execution_arn: str
    state_name: str
    retry_count: int


class TaskInvoker(Protocol):
    def invoke(self, function: str, payload: Any, context: TaskContext) -> Any:
        """Run the function; raise ``StatesError`` named as Step Functions would name the failure."""


@dataclass(frozen=True)
class HistoryEvent:
    time: float  # workflow seconds
    type: str
    execution_arn: str
    state: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[HistoryEvent], None]


@dataclass
class ExecutionResult:
    arn: str
    name: str
    status: str  # SUCCEEDED, FAILED or ABORTED
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[HistoryEvent] = field(default_factory=list)

    def entered(self, state: str) -> list[HistoryEvent]:
        return [event for event in self.history if event.type == "StateEntered" and event.state == state]

    def of_type(self, event_type: str) -> list[HistoryEvent]:
        """Every event of one type: "StateEntered" are the billed state transitions, "TaskScheduled" the task calls."""
        return [event for event in self.history if event.type == event_type]


MAX_QUIET_SECONDS = 0.5  # a waiting execution looks at its state at least this often, whatever happens


class _Aborted(Exception):
    """Internal: the execution was aborted (StopExecution)."""


def _lambda_invoke_response(payload: Any) -> dict[str, Any]:
    """The shape of the optimised Lambda integration's result (the function's answer is Payload)."""
    return {
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {"HttpStatusCode": 200},
        "SdkResponseMetadata": {},
        "StatusCode": 200,
    }


class Execution:
    def __init__(
        self,
        *,
        arn: str,
        name: str,
        state_machine_arn: str,
        definition: dict[str, Any],
        execution_input: Any,
        invoker: TaskInvoker,
        timer: Timer,
        rng: random.Random,
        listener: Listener | None = None,
        tokens: TaskTokens = TASK_TOKENS,
    ) -> None:
        self.arn = arn
        self.tokens = tokens
        self.name = name
        self.definition = definition
        self.input = execution_input
        self.invoker = invoker
        self.timer = timer
        self.rng = rng
        self.listener = listener
        self.history: list[HistoryEvent] = []
        self._abort = threading.Event()
        # Set whenever something the execution may be waiting for happens (abort, task done, callback).
        self._attention = threading.Event()
        started = datetime.datetime.now(datetime.UTC).isoformat()
        self.context: dict[str, Any] = {
            "Execution": {"Id": arn, "Name": name, "Input": execution_input, "StartTime": started},
            "StateMachine": {"Id": state_machine_arn, "Name": state_machine_arn.rsplit(":", 1)[-1]},
            "State": {},
        }

    def _record(self, kind: str, state: str | None = None, **details: Any) -> None:
        event = HistoryEvent(self.timer.now(), kind, self.arn, state, details)
        self.history.append(event)
        if self.listener is not None:
            self.listener(event)

    def abort(self) -> None:
        """StopExecution: the execution ends at once; a task already running finishes, but its result is dropped."""
        self._abort.set()
        self._attention.set()

    def _await_attention(self, *deadlines: float | None) -> None:
        """Sleep until something happens or the earliest deadline passes (no busy polling of many threads)."""
        timeout = MAX_QUIET_SECONDS
        for deadline in deadlines:
            if deadline is not None:
                timeout = min(timeout, max(deadline - time.monotonic(), 0.0))
        self._attention.wait(timeout)
        self._attention.clear()  # the caller re-checks every condition after this

    def _check_abort(self) -> None:
        if self._abort.is_set():
            raise _Aborted

    def _sleep(self, seconds: float) -> None:
        if self.timer.sleep_unless(seconds, self._abort):
            raise _Aborted

    def run(self) -> ExecutionResult:
        states = self.definition["States"]
        name: str | None = self.definition["StartAt"]
        data = self.input
        self._record("ExecutionStarted")
        try:
            while name is not None:
                self._check_abort()
                state = states[name]
                self.context["State"] = {"Name": name, "EnteredTime": self.timer.now(), "RetryCount": 0}
                self._record("StateEntered", name)
                data, name_next = self._run_state(name, state, data)
                self._record("StateExited", name)
                name = name_next
        except _Aborted:
            self._record("ExecutionAborted", name)
            return ExecutionResult(self.arn, self.name, "ABORTED", history=self.history)
        except StatesError as failure:
            self._record("ExecutionFailed", error=failure.error, cause=failure.cause)
            return ExecutionResult(self.arn, self.name, "FAILED", None, failure.error, failure.cause, self.history)
        self._record("ExecutionSucceeded")
        return ExecutionResult(self.arn, self.name, "SUCCEEDED", data, history=self.history)

    # -- states ----------------------------------------------------------------------------------

    def _run_state(self, name: str, state: dict[str, Any], raw: Any) -> tuple[Any, str | None]:
        kind = state["Type"]
        if kind == "Task":
            return self._task(name, state, raw)
        effective = select(state.get("InputPath", "$"), raw, self.context)
        if kind == "Pass":
            if "Result" in state:
                result = state["Result"]
            elif "Parameters" in state:
                result = resolve_template(state["Parameters"], effective, self.context)
            else:
                result = effective
            return self._output(state, apply_result_path(raw, result, state.get("ResultPath", "$"))), self._next(state)
        if kind == "Choice":
            for rule in state.get("Choices", []):
                if matches(rule, effective, self.context):
                    return self._output(state, effective), rule["Next"]
            if "Default" not in state:
                raise StatesError("States.NoChoiceMatched", f"no choice rule of {name!r} matched")
            return self._output(state, effective), state["Default"]
        if kind == "Wait":
            seconds = state["Seconds"] if "Seconds" in state else select(state["SecondsPath"], effective, self.context)
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                raise StatesError(RUNTIME, f"Wait {name!r}: {seconds!r} is not a number of seconds")
            self._record("WaitStarted", name, seconds=seconds)
            self._sleep(seconds)
            return self._output(state, effective), self._next(state)
        if kind == "Succeed":
            return self._output(state, effective), None
        if kind == "Fail":
            error = select(state["ErrorPath"], raw, self.context) if "ErrorPath" in state else state.get("Error", "")
            cause = select(state["CausePath"], raw, self.context) if "CausePath" in state else state.get("Cause", "")
            raise StatesError(str(error), str(cause))
        raise StatesError(RUNTIME, f"state type {kind!r} cannot run")  # refused earlier by check_definition

    def _output(self, state: dict[str, Any], data: Any) -> Any:
        return select(state.get("OutputPath", "$"), data, self.context)

    @staticmethod
    def _next(state: dict[str, Any]) -> str | None:
        return None if state.get("End") else state["Next"]

    def _task(self, name: str, state: dict[str, Any], raw: Any) -> tuple[Any, str | None]:
        retriers = state.get("Retry", [])
        retries = [0] * len(retriers)
        while True:
            try:
                result = self._task_attempt(name, state, raw, sum(retries))
                output = apply_result_path(raw, result, state.get("ResultPath", "$"))
                return self._output(state, output), self._next(state)
            except StatesError as failure:
                if failure.error == RUNTIME:
                    raise
                self._record("TaskFailed", name, error=failure.error, cause=failure.cause)
                index = next(
                    (i for i, r in enumerate(retriers) if error_matches(r["ErrorEquals"], failure.error)), None
                )
                if index is not None and retries[index] < max_attempts(retriers[index]):
                    delay = retry_delay(retriers[index], retries[index], self.rng)
                    retries[index] += 1
                    self.context["State"]["RetryCount"] = sum(retries)
                    self._record("TaskRetryScheduled", name, error=failure.error, delay=delay)
                    self._sleep(delay)
                    continue
                for catcher in state.get("Catch", []):
                    if error_matches(catcher["ErrorEquals"], failure.error):
                        self._record("TaskCaught", name, error=failure.error, next=catcher["Next"])
                        output = apply_result_path(raw, failure.as_output(), catcher.get("ResultPath", "$"))
                        return output, catcher["Next"]
                raise

    def _task_attempt(self, name: str, state: dict[str, Any], raw: Any, retry_count: int) -> Any:
        resource = state["Resource"]
        token = self.tokens.issue(notify=self._attention) if resource.endswith(WAIT_FOR_TASK_TOKEN) else None
        if token is not None:
            self.context["Task"] = {"Token": token}
        try:
            effective = select(state.get("InputPath", "$"), raw, self.context)
            parameters = (
                resolve_template(state["Parameters"], effective, self.context) if "Parameters" in state else effective
            )
            context = TaskContext(self.arn, name, retry_count)
            if is_lambda_function_arn(resource):
                function, payload, wrap = resource, parameters, False
            else:
                function, payload, wrap = parameters.get("FunctionName"), parameters.get("Payload", {}), token is None
            self._record("TaskScheduled", name, function=function)
            timeout = state.get("TimeoutSeconds")
            deadline = None if timeout is None else time.monotonic() + self.timer.real_seconds(timeout)
            try:
                result = self._invoke(state, str(function), payload, context, deadline)
                if token is not None:
                    result = self._wait_for_callback(name, state, token, deadline)
            except (StatesError, _Aborted):
                raise
            except Exception as exc:  # an invoker that does not name its errors: name them by class
                raise StatesError(type(exc).__name__, str(exc)) from exc
        finally:
            if token is not None:
                self.tokens.close(token)
                self.context.pop("Task", None)
        self._check_abort()  # an aborted execution drops the result of a task that was still running
        self._record("TaskSucceeded", name)
        if wrap:
            result = _lambda_invoke_response(result)
        if "ResultSelector" in state:
            result = resolve_template(state["ResultSelector"], result, self.context)
        return result

    def _wait_for_callback(self, name: str, state: dict[str, Any], token: str, deadline: float | None) -> Any:
        """The callback pattern: wait for SendTaskSuccess/Failure on ``token``, with timeouts and abort."""
        pending = self.tokens.pending(token)
        heartbeat = state.get("HeartbeatSeconds")
        beat_deadline = None if heartbeat is None else time.monotonic() + self.timer.real_seconds(heartbeat)
        self._record("TaskWaitingForCallback", name)
        while not pending.done.is_set():
            self._check_abort()
            now = time.monotonic()
            if deadline is not None and now > deadline:
                raise StatesError(TIMEOUT, f"no callback within {state['TimeoutSeconds']} seconds")
            if pending.heartbeat.is_set():
                pending.heartbeat.clear()
                beat_deadline = None if heartbeat is None else now + self.timer.real_seconds(heartbeat)
            if beat_deadline is not None and now > beat_deadline:
                raise StatesError(HEARTBEAT_TIMEOUT, f"no heartbeat within {heartbeat} seconds")
            self._await_attention(deadline, beat_deadline)
        if pending.error is not None:
            raise StatesError(*pending.error)
        return json.loads(pending.output or "null")

    def _invoke(
        self, state: dict[str, Any], function: str, payload: Any, context: TaskContext, deadline: float | None
    ) -> Any:
        """Run the task on a thread of its own, as a Lambda runs apart from Step Functions.

        A ``TimeoutSeconds`` that passes, or an abort, ends the execution's wait for it, not the call
        itself, which runs on (and its answer is dropped), exactly as a Lambda does.
        """
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def call() -> None:
            try:
                outcome["result"] = self.invoker.invoke(function, payload, context)
            except BaseException as exc:  # handed back to the execution's thread
                outcome["error"] = exc
            finally:
                done.set()
                self._attention.set()

        threading.Thread(target=call, name=f"{self.name}:{context.state_name}", daemon=True).start()
        while not done.is_set():
            self._check_abort()
            if deadline is not None and time.monotonic() > deadline:
                raise StatesError(TIMEOUT, f"the task did not finish within {state['TimeoutSeconds']} seconds")
            self._await_attention(deadline)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]
