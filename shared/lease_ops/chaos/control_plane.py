"""What Step Functions and EventBridge do around executions, for executions the local runner runs.

Each execution is started in (moto's) Step Functions first, so that it has a real
ARN and ``DescribeExecution`` answers for it; it then runs in the local runner.
When it ends, its status (and stop time) is written back into moto, and a
FAILED, TIMED_OUT or ABORTED one is announced to lease_app's ``reclaim``
function as an "Execution Status Change" event, retried as EventBridge retries
an asynchronous invocation. ``abort`` is StopExecution. lease_app's ``sweeper``
runs on a timer, like its one-minute schedule.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from typing import Any

from chalice import Chalice
from chalice.local import LambdaContext
from moto.stepfunctions.models import stepfunctions_backends

from lease_core.settings import invocation_environment
from lease_ops.local_runner import ExecutionResult, HistoryEvent, LocalRunner, RunningExecution

EVENT_RETRIES = 3  # EventBridge → Lambda asynchronous invocation: the first try and two retries


class ControlPlane:
    def __init__(
        self,
        *,
        runner: LocalRunner,
        stepfunctions: Any,
        lease_app: Chalice,
        lease_app_environment: dict[str, str],
        account_id: str,
        region: str,
    ) -> None:
        self.runner = runner
        self.stepfunctions = stepfunctions
        self.lease_app = lease_app
        self.environment = lease_app_environment
        self.account_id = account_id
        self.region = region
        self.running: dict[str, RunningExecution] = {}
        self.cleanup_errors: list[str] = []
        self._lock = threading.Lock()
        self._sweeping = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._finished: list[ExecutionResult] = []
        self._watchers: list[threading.Thread] = []

    # -- executions ------------------------------------------------------------------------------

    def start_all(self, executions: list[tuple[str, dict[str, Any], Any, str]]) -> list[str]:
        """Start (state machine ARN, definition, input, name) executions together.

        All are registered with Step Functions first and only then set running, so that they
        really contend for the leases instead of trickling in.
        """
        arns = [
            self.stepfunctions.start_execution(stateMachineArn=machine, name=name)["executionArn"]
            for machine, _, _, name in executions
        ]
        for arn, (machine, definition, execution_input, name) in zip(arns, executions, strict=True):
            running = self.runner.start(machine, definition, execution_input, name=name)
            with self._lock:
                self.running[arn] = running
            watcher = threading.Thread(target=self._on_end, args=(arn, running), name=f"watch-{name}", daemon=True)
            watcher.start()
            self._watchers.append(watcher)
        return arns

    def abort(self, arn: str) -> None:
        """StopExecution: the execution stops now; a task it is running finishes on its own."""
        self.running[arn].abort()

    def wait_all(self, timeout: float = 600.0) -> list[ExecutionResult]:
        deadline = time.monotonic() + timeout
        for watcher in self._watchers:
            watcher.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            return list(self._finished)

    def _on_end(self, arn: str, running: RunningExecution) -> None:
        result = running.wait()
        stopped = datetime.datetime.now(datetime.UTC)
        execution = stepfunctions_backends[self.account_id][self.region].describe_execution(arn)
        execution.status = result.status
        execution.stop_date = stopped
        if result.status in ("FAILED", "TIMED_OUT", "ABORTED"):
            self._deliver_status_change(arn, result.status, stopped)
        with self._lock:
            self._finished.append(result)

    # -- lease_app -------------------------------------------------------------------------------

    def _invoke(self, function: str, event: dict[str, Any]) -> Any:
        with invocation_environment(self.environment):
            return self.lease_app.handler_map[function](event, LambdaContext(function, memory_size=256))

    def _with_retries(self, function: str, event: dict[str, Any]) -> None:
        for attempt in range(EVENT_RETRIES):
            try:
                self._invoke(function, event)
                return
            except Exception as exc:  # a failed invocation; retried like an asynchronous one
                if attempt == EVENT_RETRIES - 1:
                    with self._lock:
                        self.cleanup_errors.append(f"{function}: {type(exc).__name__}: {exc}")
                time.sleep(0.05 * (attempt + 1))

    def _deliver_status_change(self, arn: str, status: str, stopped: datetime.datetime) -> None:
        event = {
            "version": "0",
            "id": f"status-change-{arn.rsplit(':', 1)[-1]}",
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": self.account_id,
            "time": stopped.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [arn],
            "detail": {
                "executionArn": arn,
                "stateMachineArn": arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0],
                "name": arn.rsplit(":", 1)[-1],
                "status": status,
                "stopDate": int(stopped.timestamp() * 1000),
            },
        }
        self._with_retries("reclaim", event)

    def sweep(self) -> None:
        scheduled = {
            "version": "0",
            "id": "sweep",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account_id,
            "time": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [],
            "detail": {},
        }
        self._with_retries("sweeper", scheduled)

    def sweep_every(self, seconds: float) -> None:
        def loop() -> None:
            while not self._sweeping.wait(seconds):
                self.sweep()

        self._sweeper = threading.Thread(target=loop, name="sweeper", daemon=True)
        self._sweeper.start()

    def stop_sweeping(self) -> None:
        self._sweeping.set()
        if self._sweeper is not None:
            self._sweeper.join()


Listener = Callable[[HistoryEvent], None]
