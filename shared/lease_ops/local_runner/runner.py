"""Start executions of a definition on threads, each with its own history, and wait for them."""

from __future__ import annotations

import random
import threading
import uuid
from typing import Any

from lease_ops.local_runner.definition_check import check_definition
from lease_ops.local_runner.execution import Execution, ExecutionResult, Listener, TaskInvoker
from lease_ops.local_runner.timing import ScaledTimer, Timer


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``arn:…:stateMachine:<machine>`` → ``arn:…:execution:<machine>:<name>``, as Step Functions names it."""
    prefix, machine = state_machine_arn.rsplit(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{name}"


class RunningExecution:
    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.result: ExecutionResult | None = None
        self._thread = threading.Thread(target=self._run, name=execution.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.result = self.execution.run()

    def abort(self) -> None:
        self.execution.abort()

    def wait(self, timeout: float | None = None) -> ExecutionResult:
        self._thread.join(timeout)
        if self.result is None:
            raise TimeoutError(f"execution {self.execution.name} is still running")
        return self.result


class LocalRunner:
    """Runs state machine definitions locally; tasks go to ``invoker``, time passes on ``timer``."""

    def __init__(
        self,
        invoker: TaskInvoker,
        *,
        timer: Timer | None = None,
        seed: int | None = None,
        listener: Listener | None = None,
    ) -> None:
        self.invoker = invoker
        self.timer = timer or ScaledTimer()
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self.listener = listener

    def _execution(
        self, state_machine_arn: str, definition: dict[str, Any], execution_input: Any, name: str | None
    ) -> Execution:
        check_definition(definition)
        name = name or str(uuid.uuid4())
        with self._rng_lock:
            rng = random.Random(self._rng.random())
        return Execution(
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

    def run(
        self, state_machine_arn: str, definition: dict[str, Any], execution_input: Any, name: str | None = None
    ) -> ExecutionResult:
        """Run one execution to its end on this thread."""
        return self._execution(state_machine_arn, definition, execution_input, name).run()

    def start(
        self, state_machine_arn: str, definition: dict[str, Any], execution_input: Any, name: str | None = None
    ) -> RunningExecution:
        """Start one execution on its own thread."""
        return RunningExecution(self._execution(state_machine_arn, definition, execution_input, name))
