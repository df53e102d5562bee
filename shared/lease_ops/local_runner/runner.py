"""Start executions of a definition on threads, each with its own history, and wait for them; redrive them."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from typing import Any

from moto.stepfunctions.exceptions import ExecutionDoesNotExist

from lease_ops.local_runner.definition_check import check_definition
from lease_ops.local_runner.errors import ExecutionNotRedrivable
from lease_ops.local_runner.execution import Execution, ExecutionResult, Listener, TaskInvoker
from lease_ops.local_runner.executions import LOCAL_EXECUTIONS, LocalExecutions
from lease_ops.local_runner.timing import ScaledTimer, Timer


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``arn:…:stateMachine:<machine>`` → ``arn:…:execution:<machine>:<name>``, as Step Functions names it."""
    prefix, machine = state_machine_arn.rsplit(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{name}"


class RunningExecution:
    """One attempt of an execution (its first run, or a redrive) on its own thread."""

    def __init__(
        self,
        execution: Execution,
        attempt: Callable[[], ExecutionResult] | None = None,
        on_end: Callable[[Execution], None] | None = None,
    ) -> None:
        self.execution = execution
        self.result: ExecutionResult | None = None
        self._attempt = attempt or execution.run
        self._on_end = on_end
        self._thread = execution.timer.start_thread(self._run, execution.name)

    def _run(self) -> None:
        result = self._attempt()
        if self._on_end is not None:
            self._on_end(self.execution)
        self.result = result

    def abort(self) -> None:
        self.execution.abort()

    def wait(self, timeout: float | None = None) -> ExecutionResult:
        self._thread.join(timeout)
        if self.result is None:
            raise TimeoutError(f"execution {self.execution.name} is still running")
        return self.result


class LocalRunner:
    """Runs state machine definitions locally; tasks go to ``invoker``, time passes on ``timer``.

    ``on_redrive`` is told of every redriven attempt, whoever asked for it (``redrive`` in process, or
    RedriveExecution through the embedded moto): that is where a control plane watches it to its end.
    """

    def __init__(
        self,
        invoker: TaskInvoker,
        *,
        timer: Timer | None = None,
        seed: int | None = None,
        listener: Listener | None = None,
        on_redrive: Callable[[RunningExecution], None] | None = None,
        executions: LocalExecutions = LOCAL_EXECUTIONS,
    ) -> None:
        self.invoker = invoker
        self.timer = timer or ScaledTimer()
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self.listener = listener
        self.on_redrive = on_redrive
        self.executions = executions

    def _execution(
        self, state_machine_arn: str, definition: dict[str, Any], execution_input: Any, name: str | None
    ) -> Execution:
        check_definition(definition)
        name = name or str(uuid.uuid4())
        with self._rng_lock:
            rng = random.Random(self._rng.random())
        execution = Execution(
            arn=execution_arn(state_machine_arn, name),
            name=name,
            state_machine_arn=state_machine_arn,
            definition=definition,
            execution_input=execution_input,
            invoker=self.invoker,
            timer=self.timer,
            rng=rng,
            listener=self.listener,
        )
        self.executions.add(execution, self)
        return execution

    def run(
        self, state_machine_arn: str, definition: dict[str, Any], execution_input: Any, name: str | None = None
    ) -> ExecutionResult:
        """Run one execution to its end on this thread."""
        execution = self._execution(state_machine_arn, definition, execution_input, name)
        result = execution.run()
        self.executions.succeeded(execution)
        return result

    def start(
        self, state_machine_arn: str, definition: dict[str, Any], execution_input: Any, name: str | None = None
    ) -> RunningExecution:
        """Start one execution on its own thread."""
        execution = self._execution(state_machine_arn, definition, execution_input, name)
        return RunningExecution(execution, on_end=self.executions.succeeded)

    def redrive(self, arn: str, *, pending_seconds: float = 0.0) -> RunningExecution:
        """RedriveExecution: restart a FAILED or ABORTED execution of this runner at the state that did not succeed.

        Same execution and ARN, same definition; the states that succeeded are not run again, and the state that
        did not succeed starts afresh with the input it got (its retry counts and timeout reset). The execution is
        PENDING_REDRIVE until its previous attempt's loop has ended (and ``pending_seconds`` of workflow time),
        then RUNNING with ``$$.Execution.RedriveCount`` one higher. A task still running from the previous
        attempt is not waited for: the redriven attempt may invoke the same function while it runs, as on AWS.
        Raises ExecutionNotRedrivable (RUNNING, SUCCEEDED, PENDING_REDRIVE) or ExecutionDoesNotExist.
        https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html
        """
        entry = self.executions.live(arn)
        if entry is None:
            record = self.executions.record(arn)
            if record is None:
                raise ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
            raise ExecutionNotRedrivable(f"Execution is {record.status} and cannot be redriven")
        execution, owner = entry
        if owner is not self:  # another runner of this process started it: it runs there
            return owner.redrive(arn, pending_seconds=pending_seconds)  # type: ignore[no-any-return]
        generation, _ = execution.request_redrive()
        running = RunningExecution(
            execution,
            attempt=lambda: execution.run_redriven(generation, pending_seconds),
            on_end=self.executions.succeeded,
        )
        if self.on_redrive is not None:
            self.on_redrive(running)
        return running
