"""What Step Functions and EventBridge do around executions, for executions the local runner runs.

Each execution is started in (moto's) Step Functions first, so that it has a real
ARN and ``DescribeExecution`` answers for it; it then runs in the local runner.
When it ends, its status (and stop time) is written back into moto, and a
FAILED, TIMED_OUT or ABORTED one is announced to lease_app's ``reclaim``
function as an "Execution Status Change" event, retried as EventBridge retries
an asynchronous invocation. ``abort`` is StopExecution. lease_app's ``sweeper``
runs on a timer, like its one-minute schedule. ``redrive`` is RedriveExecution
(so is a boto3 ``redrive_execution`` against the embedded moto): the redriven
attempt is watched to its end like the first, and every event carries the
execution's redriveCount.

Everything here runs on the scenario's ``VirtualClock``: the executions, the
watchers that announce their ends and the sweeper are participants, so workflow
time stands still while any of them works, and dates (stopDate, the events'
time) are the emulated world's. A watcher waits on the clock for its execution,
not on the thread: it is woken, as a participant, the moment the execution
ends, before time can move on.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from chalice import Chalice
from chalice.local import LambdaContext
from moto.stepfunctions.models import stepfunctions_backends

from lease_core.settings import invocation_environment
from lease_ops.local_runner import ExecutionResult, HistoryEvent, LocalRunner, RunningExecution, status_change_event
from lease_ops.local_runner.timing import VirtualClock

EVENT_RETRIES = 3  # EventBridge → Lambda asynchronous invocation: the first try and two retries


class ControlPlane:
    def __init__(
        self,
        *,
        runner: LocalRunner,
        clock: VirtualClock,
        stepfunctions: Any,
        lease_app: Chalice,
        lease_app_environment: dict[str, str],
        account_id: str,
        region: str,
    ) -> None:
        self.runner = runner
        self.clock = clock
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
        runner.on_redrive = self._watch  # every redrive: in process (``redrive``) or through moto's API
        # Called by an execution's watcher once its end was announced, before it counts as finished: a
        # scenario may redrive it from there, so that waiting for every execution waits for the redrive too.
        self.after_end: Callable[[ExecutionResult], None] | None = None

    # -- executions ------------------------------------------------------------------------------

    def start_all(self, executions: list[tuple[str, dict[str, Any], Any, str]]) -> list[str]:
        """Start (state machine ARN, definition, input, name) executions together.

        All are registered with Step Functions first and only then set running, so that they
        really contend for the leases instead of trickling in; workflow time stands still until
        the last one is running.
        """
        with self.clock.participating():
            arns = [
                self.stepfunctions.start_execution(stateMachineArn=machine, name=name)["executionArn"]
                for machine, _, _, name in executions
            ]
            for arn, (machine, definition, execution_input, name) in zip(arns, executions, strict=True):
                running = self.runner.start(machine, definition, execution_input, name=name)
                with self._lock:
                    self.running[arn] = running
                    self._watchers.append(self.clock.start_thread(partial(self._on_end, arn, running), f"watch-{name}"))
        return arns

    def abort(self, arn: str) -> None:
        """StopExecution: the execution stops now; a task it is running finishes on its own."""
        self.running[arn].abort()

    def redrive(self, arn: str, *, pending_seconds: float = 0.0) -> None:
        """RedriveExecution: a FAILED or ABORTED execution continues at the state that did not succeed.

        PENDING_REDRIVE for ``pending_seconds`` of workflow time (and until its last attempt's loop ended),
        then RUNNING; raises ExecutionNotRedrivable if it is RUNNING, PENDING_REDRIVE or SUCCEEDED.
        """
        self.runner.redrive(arn, pending_seconds=pending_seconds)

    def _watch(self, running: RunningExecution) -> None:
        """Watch a redriven attempt to its end, as ``start_all`` watches a first one."""
        arn = running.execution.arn
        with self._lock:
            self.running[arn] = running
            self._watchers.append(self.clock.start_thread(partial(self._on_end, arn, running), f"watch-{arn}"))

    def wait_all(self, stall_seconds: float = 600.0) -> list[ExecutionResult]:
        """Wait until every execution ended and was announced.

        Called as a participant, the caller wakes before workflow time moves past the last end. It gives up
        only on a world that is stuck (no thread began or ended a wait on the clock for ``stall_seconds`` of
        the wall clock), never on a slow one: a busy machine must not end a scenario early.
        """
        seen, changed = self.clock.progress, time.monotonic()
        while not self.clock.wait_until(lambda: len(self._finished) == len(self._watchers), real_timeout=10):
            if self.clock.progress != seen:
                seen, changed = self.clock.progress, time.monotonic()
            elif time.monotonic() - changed > stall_seconds:
                break
        with self._lock:
            return list(self._finished)

    def _on_end(self, arn: str, running: RunningExecution) -> None:
        self.clock.wait_until(lambda: running.result is not None)
        result = running.wait()
        stopped = getattr(result, "stop_date", None) or self.clock.utc_now()
        execution = stepfunctions_backends[self.account_id][self.region].describe_execution(arn)
        execution.status = result.status
        execution.stop_date = stopped
        if result.status in ("FAILED", "TIMED_OUT", "ABORTED"):
            self._deliver_status_change(result, stopped)
        if self.after_end is not None:
            self.after_end(result)
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
                self.clock.sleep(0.05 * (attempt + 1))

    def _deliver_status_change(self, result: ExecutionResult, stopped: datetime.datetime) -> None:
        event = status_change_event(result, account_id=self.account_id, region=self.region, stopped=stopped)
        self._with_retries("reclaim", event)

    def set_cap(self, prefix: str, cap: int) -> dict[str, Any]:
        """PUT /prefixes/{prefix}/cap {"cap": cap} through lease_app's own route, as an operator calls it."""
        event = {
            "resource": "/prefixes/{prefix}/cap",
            "path": f"/prefixes/{prefix}/cap",
            "httpMethod": "PUT",
            "headers": {"content-type": "application/json"},
            "multiValueHeaders": {"content-type": ["application/json"]},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": {"prefix": prefix},
            "stageVariables": None,
            "requestContext": {
                "resourcePath": "/prefixes/{prefix}/cap",
                "httpMethod": "PUT",
                "path": f"/api/prefixes/{prefix}/cap",
                "stage": "api",
                "apiId": "chaos",
                "accountId": self.account_id,
                "identity": {"sourceIp": "127.0.0.1"},
            },
            "body": json.dumps({"cap": cap}),
            "isBase64Encoded": False,
        }
        with invocation_environment(self.environment):
            response = self.lease_app(event, LambdaContext("api", memory_size=256))
        if response["statusCode"] != 200:
            raise RuntimeError(f"PUT /prefixes/{prefix}/cap answered {response['statusCode']}: {response['body']}")
        return dict(json.loads(response["body"]))

    def sweep(self) -> None:
        scheduled = {
            "version": "0",
            "id": "sweep",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account_id,
            "time": self.clock.utc_now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [],
            "detail": {},
        }
        self._with_retries("sweeper", scheduled)

    def sweep_every(self, seconds: float) -> None:
        """Sweep every ``seconds`` of workflow time, like the sweeper's schedule."""

        def loop() -> None:
            while not self.clock.sleep_unless(seconds, self._sweeping):
                self.sweep()

        self._sweeper = self.clock.start_thread(loop, "sweeper")

    def stop_sweeping(self) -> None:
        self._sweeping.set()
        if self._sweeper is not None:
            self._sweeper.join()


Listener = Callable[[HistoryEvent], None]
