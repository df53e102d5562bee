"""Interceptors around the Lambda handlers the local runner calls: crashes, and a lease check around Process.

``CrashAfterWrite`` lets a lease Lambda do its DynamoDB write and then dies
before answering, as a runtime crash or an out-of-memory would: Step Functions
sees ``Lambda.Unknown``.

``ProcessGuard`` wraps every Process call: it checks, before the work and after
it, that the execution's lease is in the table and unexpired (a violation
otherwise), spends the work time, and, for executions picked to overrun, lets
the Lambda's own timeout end the call (``Sandbox.Timedout``), as Lambda does.
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
class ProcessGuard:
    timer: Timer
    dynamodb: Any  # a client without injected faults: the checks must not fail for their own reasons
    table: str
    work_seconds: tuple[float, float]
    lambda_timeout: dict[str, float]  # prefix -> the process Lambda's own timeout (workflow seconds)
    overrunning: set[str] = field(default_factory=set)  # execution ARNs whose Process runs past its timeout
    seed: int = 0
    violations: list[str] = field(default_factory=list)
    calls: int = 0
    timeouts: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def _check(self, prefix: str, holder: str, when: str) -> None:
        try:
            lease = LeaseSemaphore(self.dynamodb, self.table, prefix).inspect().holders.get(holder)
        except UnknownPrefix:
            lease = None
        if lease is None or lease.expires_at <= time.time():
            with self._lock:
                self.violations.append(f"{prefix}: Process of {holder.rsplit(':', 1)[-1]} ran without a lease ({when})")

    def __call__(self, invocation: Invocation, event: Any, call_next: Callable[[Any], Any]) -> Any:
        if invocation.name != "process":
            return call_next(event)
        prefix = invocation.environment["LEASE_PREFIX"]
        holder = invocation.task.execution_arn
        with self._lock:
            self.calls += 1
            seconds = self._rng.uniform(*self.work_seconds)
        began = self.timer.now()
        self._check(prefix, holder, "when it started")
        # The check's read is the monitor's, not the work's: under load it can take a large share of a
        # time-scaled Process timeout, so the work sleeps only what is left of its duration.
        checked = self.timer.now() - began
        if holder in self.overrunning:
            limit = self.lambda_timeout[prefix]
            self.timer.sleep(max(0.0, limit - checked))
            self._check(prefix, holder, "when Lambda stopped it")
            with self._lock:
                self.timeouts += 1
            raise StatesError("Sandbox.Timedout", f"Task timed out after {limit:.2f} seconds")
        self.timer.sleep(max(0.0, seconds - checked))
        answer = call_next(event)
        self._check(prefix, holder, "when it finished")
        return answer
