"""Interceptors around the Lambda handlers the local runner calls: crashes, and a lease check around Process.

``UncatchableProcessFailure`` fails an execution inside Process (``States.Runtime``), past every Catch.

``CrashAfterWrite`` lets a lease Lambda do its DynamoDB write and then dies
before answering, as a runtime crash or an out-of-memory would: Step Functions
sees ``Lambda.Unknown``.

``ProcessGuard`` wraps every Process call: it checks, when the work starts and
when it ends, that the lease of the holder the call works for is in the table
and unexpired, and that no other call works under that holder meanwhile (a
violation otherwise), spends the work time, and, for
executions picked to overrun, lets the Lambda's own timeout end the call
(``Sandbox.Timedout``), as Lambda does. The handler itself runs before the
emulated work, so that whatever it checks first (the core's own lease check,
which refuses a run without a lease) comes first, as in a real handler.

The work is a sleep on the scenario's clock, and "unexpired" is judged by the
clock the lease core runs on (``now``): on the chaos suite's ``VirtualClock``
the guard's own reads take no workflow time, so the work lasts exactly its
drawn duration and the checks see the table at the instants the work starts
and ends, whatever the machine's speed.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lease_core import LeaseSemaphore, UnknownPrefix
from lease_ops.local_runner import Invocation, StatesError
from lease_ops.local_runner.timing import Timer

LEASE_FUNCTIONS = ("acquire", "release", "renew")
LEASE_HOLDER_KEY = "lease_holder"  # the holder a Process payload names (the execution's run)


@dataclass
class CrashAfterWrite:
    probability: float
    seed: int = 0
    injected: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def __call__(self, invocation: Invocation, event: Any, call_next: Callable[[Any], Any]) -> Any:
        answer = call_next(event)
        if invocation.name in LEASE_FUNCTIONS:
            with self._lock:
                crash = self._rng.random() < self.probability
                self.injected += crash
            if crash:
                raise StatesError(
                    "Lambda.Unknown",
                    "The cause could not be determined because Lambda did not return an error type "
                    f"(injected: {invocation.name} crashed after its write)",
                )
        return answer


@dataclass
class UncatchableProcessFailure:
    """The first Process call of a chosen execution does its work, then the execution fails *inside* Process
    with ``States.Runtime`` — as when a task's output cannot be processed (a ResultSelector path missing from
    it) — which no Retry or Catch can match
    (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html), so no failure path
    runs and a redrive restarts at Process."""

    failing: set[str]  # execution ARNs whose first Process fails so
    injected: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._done: set[str] = set()

    def __call__(self, invocation: Invocation, event: Any, call_next: Callable[[Any], Any]) -> Any:
        answer = call_next(event)
        execution = invocation.task.execution_arn
        if invocation.name != "process" or execution not in self.failing:
            return answer
        with self._lock:
            if execution in self._done:
                return answer
            self._done.add(execution)
            self.injected += 1
        raise StatesError("States.Runtime", "The task output could not be processed (injected)")


def _holder_of(invocation: Invocation, event: Any) -> str:
    """The holder the Process call works for: the one its payload names (``lease_holder``), else its execution."""
    named = event.get(LEASE_HOLDER_KEY) if isinstance(event, dict) else None
    return named if isinstance(named, str) else invocation.task.execution_arn


@dataclass
class ProcessGuard:
    timer: Timer
    dynamodb: Any  # a client without injected faults: the checks must not fail for their own reasons
    table: str
    work_seconds: tuple[float, float]
    lambda_timeout: dict[str, float]  # prefix -> the process Lambda's own timeout (workflow seconds)
    overrunning: set[str] = field(default_factory=set)  # execution ARNs whose Process runs past its timeout
    seed: int = 0
    now: Callable[[], float] = time.time  # epoch seconds, on the clock the lease core judges expiry by
    violations: list[str] = field(default_factory=list)
    calls: int = 0
    checks: int = 0
    timeouts: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._working: dict[str, int] = {}  # holder -> Process calls working under its lease now

    def _check(self, prefix: str, holder: str, when: str) -> None:
        try:
            lease = LeaseSemaphore(self.dynamodb, self.table, prefix).inspect().lease_of(holder)
        except UnknownPrefix:
            lease = None
        with self._lock:
            self.checks += 1
        if lease is None or lease.expires_at <= self.now():
            with self._lock:
                self.violations.append(f"{prefix}: Process of {holder.rsplit(':', 1)[-1]} ran without a lease ({when})")

    def __call__(self, invocation: Invocation, event: Any, call_next: Callable[[Any], Any]) -> Any:
        if invocation.name != "process":
            return call_next(event)
        prefix = invocation.environment["LEASE_PREFIX"]
        holder = _holder_of(invocation, event)
        with self._lock:
            self.calls += 1
            seconds = self._rng.uniform(*self.work_seconds)
        answer = call_next(event)  # the handler's own code, its checks first; it takes no workflow time
        with self._lock:
            # One lease is one slot: a second invocation under the same holder (a Process retried while
            # the first still runs) would share it.
            if holder in self._working:
                self.violations.append(f"{prefix}: two Process calls of {holder.rsplit(':', 1)[-1]} at once")
            self._working[holder] = self._working.get(holder, 0) + 1
        try:
            return self._work(invocation, prefix, holder, seconds, answer)
        finally:
            with self._lock:
                self._working[holder] -= 1
                if not self._working[holder]:
                    del self._working[holder]

    def _work(self, invocation: Invocation, prefix: str, holder: str, seconds: float, answer: Any) -> Any:
        self._check(prefix, holder, "when it started")
        if invocation.task.execution_arn in self.overrunning:
            limit = self.lambda_timeout[prefix]
            self.timer.sleep(limit)
            self._check(prefix, holder, "when Lambda stopped it")
            with self._lock:
                self.timeouts += 1
            raise StatesError("Sandbox.Timedout", f"Task timed out after {limit:.2f} seconds")
        self.timer.sleep(seconds)
        self._check(prefix, holder, "when it finished")
        return answer
