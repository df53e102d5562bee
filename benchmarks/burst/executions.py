"""Simulated Step Functions executions of the rendered lease-guarded workflow.

Each execution walks the rendered definition's states (``step_functions.Workflow``):

    Acquire -> CheckLease -> (Wait state of the ladder -> Acquire)* -> Process -> Release -> Complete
    any error, after its Retry -> Catch -> ReleaseAfterFailure -> Failed   (fail closed)

A Lambda task is scheduled, starts after a dispatch latency, runs its function in a simulation worker
(the real core, with that worker's own boto3 client: a warm execution environment), and its result
reaches the next state after a return latency. An invocation that runs past the function's timeout
(the workload's ``lambda_timeout``) stops where it is, and Step Functions sees ``Sandbox.Timedout``.
A failed task is retried as its ``Retry`` says, then caught as its ``Catch`` says.

Handoff mode's Acquire is a ``.waitForTaskToken`` task: each attempt gets a fresh ~1 KB task token;
the acquire Lambda either tells its own token (a free slot) or queues; the task completes when
``SendTaskSuccess`` arrives for its token (from a release's hand-over), or fails if the Lambda fails,
or times out after ``TimeoutSeconds`` and is caught back into Acquire (the re-check).

Process is one invocation of the process function: its lease check (``check_held``, for the function's
timeout; the baselines have none), then work, for the drawn Process time in all (the check included),
within the function's timeout.
Standard-workflow quotas (StartExecution and state-transition rates, history events), Lambda concurrency
limits and cold starts are not modelled, and the functions share their execution environments (workers).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.burst.designs import Design
from benchmarks.burst.observer import PrefixObserver
from benchmarks.burst.simulation import InvocationTimedOut, Simulation
from benchmarks.burst.step_functions import (
    TIMEOUT,
    RetryCounts,
    StepFunctionsModel,
    TaskWait,
    Workflow,
    catch_target,
)
from lease_ops.definitions.workflow_builder import (
    ACQUIRE,
    CHECK_LEASE,
    FAILED,
    PROCESS,
    RELEASE,
    RELEASE_AFTER_FAILURE,
)

EXPECTED_ERRORS = frozenset(
    {"LeaseStoreUnavailable", "LeaseLost", "InvalidLeaseRequest", "UnknownPrefix", "Sandbox.Timedout", TIMEOUT}
)


@dataclass(frozen=True)
class TaskLatencies:
    """Assumed, in simulated seconds (uniform in each range)."""

    dispatch: tuple[float, float] = (0.015, 0.040)  # a Lambda task is scheduled until its function runs
    returned: tuple[float, float] = (0.005, 0.015)  # the function returned until the next state starts


@dataclass
class Execution:
    index: int
    arn: str
    design: Design
    observer: PrefixObserver
    workflow: Workflow
    arrival: float
    process_seconds: float
    status: str = "RUNNING"
    waiting: bool = True  # not admitted yet
    queued: bool = False  # handoff: its acquire answered "queued" and it has not been told
    error: str | None = None
    lease: dict[str, Any] = field(default_factory=dict)

    @property
    def holder(self) -> str:
        return f"{self.arn}#0"  # the run, as HOLDER_ID renders it: $$.Execution.Id and RedriveCount 0


def error_name(error: BaseException) -> str:
    """The error name Step Functions matches: the exception's class, as Lambda reports it; a function that ran past
    its timeout is ``Sandbox.Timedout`` (https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html)."""
    if isinstance(error, InvocationTimedOut):
        return "Sandbox.Timedout"
    return type(error).__name__


class ExecutionRunner:
    def __init__(
        self,
        simulation: Simulation,
        rng: random.Random,
        stepfunctions: StepFunctionsModel,
        client: Callable[[], Any],
        latencies: TaskLatencies = TaskLatencies(),
    ) -> None:
        self.simulation = simulation
        self.rng = rng
        self.stepfunctions = stepfunctions
        self.stepfunctions_client = stepfunctions.client()
        self.client = client
        self.latencies = latencies
        self.unexpected: Counter[str] = Counter()
        self.first_unexpected: list[str] = []
        self.running = 0

    def _draw(self, bounds: tuple[float, float]) -> float:
        return self.rng.uniform(*bounds)

    # -- the execution ----------------------------------------------------------------------------------

    def start(self, execution: Execution) -> None:
        self.running += 1
        self.stepfunctions.statuses[execution.arn] = "RUNNING"
        execution.observer.arrived(execution.process_seconds)
        self.enter(execution, ACQUIRE)

    def end(self, execution: Execution, *, succeeded: bool) -> None:
        self.running -= 1
        execution.status = "SUCCEEDED" if succeeded else "FAILED"
        self.stepfunctions.statuses[execution.arn] = execution.status
        if execution.queued:
            execution.queued = False
            execution.observer.queued_changed(-1)
        execution.observer.ended(succeeded=succeeded, error=execution.error, was_waiting=execution.waiting)
        execution.waiting = False

    def enter(self, execution: Execution, name: str) -> None:
        state = execution.workflow.state(name)
        kind = state["Type"]
        if name == ACQUIRE:
            if execution.workflow.wait_mode == "handoff" and execution.design.wait_mode == "handoff":
                self._acquire_in_line(execution)
            else:
                self._task(
                    execution,
                    ACQUIRE,
                    lambda: self._acquire(execution),
                    lambda answer: self._answered(execution, answer),
                )
        elif name == CHECK_LEASE:
            self._check_lease(execution)
        elif name == PROCESS:
            self._process(execution)
        elif name in (RELEASE, RELEASE_AFTER_FAILURE):
            holder = execution.holder
            if name == RELEASE:
                execution.observer.releasing()
            self._task(
                execution,
                name,
                lambda: execution.design.release(self.client(), self.stepfunctions_client, holder),
                lambda _: self.enter(execution, state["Next"]),
            )
        elif kind == "Wait":
            # A rung's wait is drawn from its range at each poll (States.MathRandom, the end not drawn).
            shortest, longest = execution.workflow.wait_range(name)
            seconds = self.rng.randrange(shortest, longest) if longest > shortest else shortest
            self.simulation.after(float(seconds), lambda: self.enter(execution, state["Next"]))
        elif kind == "Pass":  # LeaseStatusUnknown: an answer that is neither acquired nor wait
            execution.error = execution.error or str(state.get("Result", {}).get("Error", name))
            self.enter(execution, state["Next"])
        elif kind == "Succeed":
            self.end(execution, succeeded=True)
        elif kind == "Fail":
            self.end(execution, succeeded=False)
        else:
            raise ValueError(f"state {name!r} of type {kind} is not simulated")

    # -- tasks ------------------------------------------------------------------------------------------

    def _task(
        self,
        execution: Execution,
        name: str,
        work: Callable[[], Any],
        on_output: Callable[[Any], None],
        *,
        timeout: float | None = None,
    ) -> None:
        retries = RetryCounts()
        deadline_after = float(timeout or execution.workflow.lease_function_timeout)

        def attempt() -> None:
            self.simulation.after(self._draw(self.latencies.dispatch), invoke)

        def invoke() -> None:
            self.simulation.spawn(work, done, deadline=self.simulation.now + deadline_after)

        def done(result: Any, error: BaseException | None) -> None:
            if error is None:
                self.simulation.after(self._draw(self.latencies.returned), lambda: on_output(result))
            else:
                self._failed(execution, name, retries, self._error(error), attempt)

        attempt()

    def _failed(
        self, execution: Execution, name: str, retries: RetryCounts, error: str, again: Callable[[], None]
    ) -> None:
        state = execution.workflow.state(name)
        delay = retries.next_delay(state, error, self.rng)
        if delay is not None:
            self.simulation.after(delay, again)
            return
        target = catch_target(state, error)
        if target is None:
            execution.error = execution.error or error
            self.end(execution, succeeded=False)
            return
        if target in (RELEASE_AFTER_FAILURE, FAILED):
            execution.error = execution.error or error
        if name == PROCESS and error == "LeaseLost":
            execution.observer.lease_lost += 1
        self.enter(execution, target)

    def _error(self, error: BaseException) -> str:
        name = error_name(error)
        if name not in EXPECTED_ERRORS:
            self.unexpected[name] += 1
            if len(self.first_unexpected) < 5:
                self.first_unexpected.append(f"{name}: {error}")
        return name

    # -- acquire ----------------------------------------------------------------------------------------

    def _acquire(self, execution: Execution) -> dict[str, Any]:
        since = self.simulation.start_epoch + execution.arrival  # $$.Execution.StartTime
        return execution.design.acquire(self.client(), self.stepfunctions_client, execution.holder, None, since)

    def _answered(self, execution: Execution, answer: dict[str, Any]) -> None:
        """Poll mode: the acquire task's ResultSelector puts the answer at ``$.lease``."""
        execution.lease = {"status": answer.get("status"), "detail": answer}
        self.enter(execution, CHECK_LEASE)

    def _check_lease(self, execution: Execution) -> None:
        status = execution.lease.get("status")
        if status in ("wait", "queued"):
            execution.observer.told_to_wait()
        if status == "wait" and execution.design.wait_seconds is not None:  # a baseline's own fixed wait
            self.simulation.after(execution.design.wait_seconds, lambda: self.enter(execution, ACQUIRE))
            return
        self.enter(execution, execution.workflow.next_after_check(execution.lease))

    def _acquire_in_line(self, execution: Execution) -> None:
        state = execution.workflow.state(ACQUIRE)
        retries = RetryCounts()
        observer = execution.observer

        def unqueue() -> None:
            if execution.queued:
                execution.queued = False
                observer.queued_changed(-1)

        def attempt() -> None:
            def told(output: dict[str, Any]) -> None:
                unqueue()
                execution.lease = {"status": output.get("status"), "detail": output}  # ResultSelector: $.status, $
                self.enter(execution, CHECK_LEASE)

            token, wait = self.stepfunctions.new_token(execution.arn, told)
            timeout = state.get("TimeoutSeconds")
            if timeout is not None:
                self.simulation.after(float(timeout), lambda: timed_out(wait))
            holder = execution.holder

            def work() -> Any:
                return execution.design.acquire(self.client(), self.stepfunctions_client, holder, token, 0.0)

            def invoke() -> None:
                deadline = self.simulation.now + execution.workflow.lease_function_timeout
                self.simulation.spawn(work, lambda result, error: done(wait, result, error), deadline=deadline)

            self.simulation.after(self._draw(self.latencies.dispatch), invoke)

        def done(wait: TaskWait, result: Any, error: BaseException | None) -> None:
            if not wait.open:
                return  # already told (its own free slot, or a hand-over) or timed out
            if error is None:
                if result.get("status") == "queued" and not execution.queued:
                    execution.queued = True
                    observer.queued_changed(+1)
                return
            wait.open = False
            self._failed(execution, ACQUIRE, retries, self._error(error), attempt)

        def timed_out(wait: TaskWait) -> None:
            if not wait.open:
                return
            wait.open = False
            unqueue()
            observer.requeues += 1
            self._failed(execution, ACQUIRE, retries, TIMEOUT, attempt)

        attempt()

    # -- process ----------------------------------------------------------------------------------------

    def _process(self, execution: Execution) -> None:
        """One Lambda invocation: the lease check (the core's guard; the baselines have none), then the work, all
        within the process function's timeout; past it, Lambda stops the function and the definition decides."""
        state = execution.workflow.state(PROCESS)
        retries = RetryCounts()
        design = execution.design
        holder = execution.holder
        function_timeout = float(execution.workflow.process_check_seconds)
        working = False

        def work() -> None:
            nonlocal working
            started = self.simulation.now
            if design.guards_process:
                design.check_process(self.client(), holder, function_timeout)
            execution.waiting = False
            execution.observer.admitted(execution.arrival)
            working = True
            # The drawn Process time is the whole invocation's, its lease check included: a workload whose
            # function timeout is its longest Process time (analytics: 120 s, Process times 30-120 s) fits.
            self.simulation.sleep(max(0.0, execution.process_seconds - (self.simulation.now - started)))

        def attempt() -> None:
            self.simulation.after(self._draw(self.latencies.dispatch), invoke)

        def invoke() -> None:
            self.simulation.spawn(work, done, deadline=self.simulation.now + function_timeout)

        def done(_: Any, error: BaseException | None) -> None:
            nonlocal working
            if working:
                working = False
                execution.observer.process_ended()
            if error is None:
                self.simulation.after(self._draw(self.latencies.returned), lambda: self.enter(execution, state["Next"]))
            else:
                self._failed(execution, PROCESS, retries, self._error(error), attempt)

        attempt()
