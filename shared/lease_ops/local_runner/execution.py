"""One execution of a state machine definition, state by state, as Step Functions runs it.

Input and output processing follows the Amazon States Language: InputPath →
Parameters → task → ResultSelector → ResultPath (applied to the state's raw
input) → OutputPath. Task errors go through Retry (first matching retrier,
its own attempt count, backoff, cap and jitter), then Catch; ``States.Runtime``
errors (a path that matches nothing) fail the execution as they do on AWS.

Statuses and RedriveExecution follow Step Functions
(https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html):
an execution is RUNNING from its start; StopExecution makes it ABORTED at once
(the task it was running runs on, apart from it); a FAILED or ABORTED execution
can be redriven: it goes PENDING_REDRIVE until its previous attempt's loop has
ended, then RUNNING again, continuing at the state that did not succeed with the
input that state got. States that succeeded are not run again; the redriven
state starts afresh (retry counts and TimeoutSeconds reset), so a Task that was
still running when the execution stopped is scheduled again while its first
invocation may still run. ``$$.Execution.RedriveCount`` is 0 until a redrive
starts, and ``$$.Execution.RedriveTime`` exists only after one.
"""

from __future__ import annotations

import copy
import datetime
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lease_ops.local_runner.choice import matches
from lease_ops.local_runner.definition_check import WAIT_FOR_TASK_TOKEN, is_lambda_function_arn
from lease_ops.local_runner.errors import HEARTBEAT_TIMEOUT, RUNTIME, TIMEOUT, ExecutionNotRedrivable, StatesError
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
    redrive_count: int = 0  # $$.Execution.RedriveCount of the attempt that calls


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
    status: str  # SUCCEEDED, FAILED or ABORTED: how this attempt (the first run, or a redrive) ended
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[HistoryEvent] = field(default_factory=list)  # the execution's whole history so far
    redrive_count: int = 0  # 0 for the first attempt, n for the n-th redrive
    start_date: datetime.datetime | None = None  # the execution's start (a redrive keeps it)
    stop_date: datetime.datetime | None = None  # when it stopped: the StopExecution call for ABORTED
    redrive_date: datetime.datetime | None = None  # the last RedriveExecution call, if any
    input: Any = None  # the execution's input

    def entered(self, state: str) -> list[HistoryEvent]:
        return [event for event in self.history if event.type == "StateEntered" and event.state == state]

    def of_type(self, event_type: str) -> list[HistoryEvent]:
        """Every event of one type: "StateEntered" are the billed state transitions, "TaskScheduled" the task calls."""
        return [event for event in self.history if event.type == event_type]


MAX_QUIET_SECONDS = 0.5  # a waiting execution looks at its state at least this often, whatever happens
# https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html ("Redrive eligibility")
REDRIVABLE = ("FAILED", "ABORTED", "TIMED_OUT")
PENDING_REDRIVE = "PENDING_REDRIVE"


def iso8601(moment: datetime.datetime) -> str:
    """A UTC time as the context object writes it: ``2019-03-26T20:14:13.192Z``."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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
        self.start_date = self.timer.utc_now()
        self.status = "RUNNING"  # as StartExecution leaves it
        self.stop_date: datetime.datetime | None = None
        self.error: str | None = None
        self.cause: str | None = None
        self.redrive_count = 0
        self.redrive_date: datetime.datetime | None = None
        self._lock = threading.RLock()  # status and redrive fields; never held while recording an event
        # Set while no attempt's loop runs (one at a time: a redrive waits for the last to end); the first is due.
        self._idle = threading.Event()
        self._resume: tuple[str, Any] | None = None  # the state being run (not yet successful) and its input
        self._redrive_generation = 0
        self._redrive_cancelled = threading.Event()
        self.context: dict[str, Any] = {
            "Execution": {
                "Id": arn,
                "Name": name,
                "Input": execution_input,
                "StartTime": iso8601(self.start_date),
                # https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html:
                # RedriveCount is 0 until a redrive; RedriveTime is added by the first redrive.
                "RedriveCount": 0,
            },
            "StateMachine": {"Id": state_machine_arn, "Name": state_machine_arn.rsplit(":", 1)[-1]},
            "State": {},
        }

    def _record(self, kind: str, state: str | None = None, **details: Any) -> None:
        event = HistoryEvent(self.timer.now(), kind, self.arn, state, details)
        self.history.append(event)
        if self.listener is not None:
            self.listener(event)

    def abort(self) -> None:
        """StopExecution: the execution is ABORTED at once; a task already running finishes, but its result is dropped.

        As on AWS the status changes with the call (DescribeExecution and RedriveExecution see ABORTED at
        once); the execution's loop notices at its next step and records ExecutionAborted.
        """
        with self._lock:
            if self.status in ("RUNNING", PENDING_REDRIVE):
                self.status = "ABORTED"
                self.stop_date = self.timer.utc_now()
                self._redrive_cancelled.set()
        self._abort.set()
        self._attention.set()

    def request_redrive(self) -> tuple[int, datetime.datetime]:
        """RedriveExecution's check and first step: PENDING_REDRIVE; ``run_redriven`` then restarts the execution.

        Only a FAILED, ABORTED or TIMED_OUT execution can be redriven; anything else is ExecutionNotRedrivable,
        with the reason DescribeExecution gives (redriveStatusReason). Returns the redrive's number (for
        ``run_redriven``) and its date (RedriveExecution's answer).
        https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html
        """
        with self._lock:
            if self.status not in REDRIVABLE:
                raise ExecutionNotRedrivable(f"Execution is {self.status} and cannot be redriven")
            self.status = PENDING_REDRIVE
            self.redrive_date = self.timer.utc_now()
            self._redrive_generation += 1
            self._redrive_cancelled = threading.Event()
            return self._redrive_generation, self.redrive_date

    def _await_attention(self, *deadlines: float | None) -> None:
        """Sleep until something happens or the earliest deadline passes (no busy polling of many threads)."""
        timeout = MAX_QUIET_SECONDS
        for deadline in deadlines:
            if deadline is not None:
                timeout = min(timeout, max(deadline - self.timer.monotonic(), 0.0))
        self.timer.wait(self._attention, timeout)
        self._attention.clear()  # the caller re-checks every condition after this

    def _check_abort(self) -> None:
        if self._abort.is_set():
            raise _Aborted

    def _sleep(self, seconds: float) -> None:
        if self.timer.sleep_unless(seconds, self._abort):
            raise _Aborted

    def run(self) -> ExecutionResult:
        """The first attempt: from StartAt, with the execution's input."""
        self._record("ExecutionStarted")
        return self._attempt(self.definition["StartAt"], self.input)

    def run_redriven(self, generation: int, pending_seconds: float = 0.0) -> ExecutionResult:
        """The attempt of redrive ``generation`` (from ``request_redrive``), after the previous attempt's loop ended.

        It stays PENDING_REDRIVE for ``pending_seconds`` of workflow time first (as long as the caller wants
        DescribeExecution to see that status), then continues at the state that did not succeed, with the input
        that state got. A StopExecution while it is pending stops it before it starts: it ends ABORTED.
        """
        with self._lock:
            cancelled = self._redrive_cancelled
        if pending_seconds > 0:
            self.timer.sleep_unless(pending_seconds, cancelled)
        while True:  # waited for on the timer, as every wait of an execution is
            self.timer.wait(self._idle, MAX_QUIET_SECONDS)
            with self._lock:
                if self._idle.is_set():
                    self._idle.clear()
                    break
        with self._lock:
            started = generation == self._redrive_generation and self.status == PENDING_REDRIVE
            if started:
                self._abort.clear()
                self.status = "RUNNING"
                self.stop_date = self.error = self.cause = None
                self.redrive_count += 1
                self.context["Execution"]["RedriveCount"] = self.redrive_count
                self.context["Execution"]["RedriveTime"] = iso8601(self.redrive_date or self.start_date)
            resume = self._resume
        if not started or resume is None:
            try:
                return self._end("ABORTED", resume[0] if resume else None)
            finally:
                self._finish_attempt()
        self._record("ExecutionRedriven", redriveCount=self.redrive_count)
        return self._attempt(resume[0], copy.deepcopy(resume[1]))

    def _attempt(self, name: str | None, data: Any) -> ExecutionResult:
        states = self.definition["States"]
        try:
            while name is not None:
                self._resume = (name, data)  # where a redrive continues unless this state succeeds
                self._check_abort()
                state = states[name]
                self.context["State"] = {"Name": name, "EnteredTime": self.timer.now(), "RetryCount": 0}
                self._record("StateEntered", name)
                data, name_next = self._run_state(name, state, data)
                self._record("StateExited", name)
                name = name_next
            return self._end("SUCCEEDED", self._resume[0] if self._resume else None, output=data)
        except _Aborted:
            return self._end("ABORTED", name)
        except StatesError as failure:
            return self._end("FAILED", name, error=failure.error, cause=failure.cause)
        finally:
            self._finish_attempt()

    def _finish_attempt(self) -> None:
        self._idle.set()

    def _end(
        self, outcome: str, state: str | None, *, output: Any = None, error: str | None = None, cause: str | None = None
    ) -> ExecutionResult:
        """Settle the attempt's outcome: a StopExecution that came first wins, whatever the loop reached."""
        with self._lock:
            if self._abort.is_set():
                outcome, output, error, cause = "ABORTED", None, None, None
            if self.status == "RUNNING":  # otherwise abort() has set it (and a redrive may have followed)
                self.status = outcome
                self.stop_date = self.timer.utc_now()
                self.error, self.cause = error, cause
            stop_date, redrive_count, redrive_date = self.stop_date, self.redrive_count, self.redrive_date
        if outcome == "ABORTED":
            self._record("ExecutionAborted", state)
        elif outcome == "FAILED":
            self._record("ExecutionFailed", error=error, cause=cause)
        else:  # with its output, as executionSucceededEventDetails has it
            self._record("ExecutionSucceeded", output=output)
        return ExecutionResult(
            self.arn,
            self.name,
            outcome,
            output,
            error,
            cause,
            list(self.history),
            redrive_count=redrive_count,
            start_date=self.start_date,
            stop_date=stop_date,
            redrive_date=redrive_date,
            input=self.input,
        )

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
                result = resolve_template(state["Parameters"], effective, self.context, rng=self.rng)
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
                resolve_template(state["Parameters"], effective, self.context, rng=self.rng)
                if "Parameters" in state
                else effective
            )
            context = TaskContext(self.arn, name, retry_count, self.redrive_count)
            if is_lambda_function_arn(resource):
                function, payload, wrap = resource, parameters, False
            else:
                function, payload, wrap = parameters.get("FunctionName"), parameters.get("Payload", {}), token is None
            self._record("TaskScheduled", name, function=function)
            timeout = state.get("TimeoutSeconds")
            deadline = None if timeout is None else self.timer.monotonic() + self.timer.real_seconds(timeout)
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
            result = resolve_template(state["ResultSelector"], result, self.context, rng=self.rng)
        return result

    def _wait_for_callback(self, name: str, state: dict[str, Any], token: str, deadline: float | None) -> Any:
        """The callback pattern: wait for SendTaskSuccess/Failure on ``token``, with timeouts and abort."""
        pending = self.tokens.pending(token)
        heartbeat = state.get("HeartbeatSeconds")
        beat_deadline = None if heartbeat is None else self.timer.monotonic() + self.timer.real_seconds(heartbeat)
        self._record("TaskWaitingForCallback", name)
        while not pending.done.is_set():
            self._check_abort()
            now = self.timer.monotonic()
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

        self.timer.start_thread(call, f"{self.name}:{context.state_name}")
        while not done.is_set():
            self._check_abort()
            if deadline is not None and self.timer.monotonic() > deadline:
                raise StatesError(TIMEOUT, f"the task did not finish within {state['TimeoutSeconds']} seconds")
            self._await_attention(deadline)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]
