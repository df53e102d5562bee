"""What the demo wraps around each workload's real Process handler: time, observation, injected faults.

The handler itself runs unchanged (its lease check first); after it the demo spends a random
"heavy step" time (scaled like every wait), counts how many Process calls of
each prefix run at once — that count, not the table, is the demo's
``max_concurrent`` — and, for executions picked for failure injection, raises
instead of calling the handler.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lease_ops.local_runner import Invocation
from lease_ops.local_runner.timing import Timer


class InjectedProcessFailure(Exception):
    """A failure the demo injected into a Process step on purpose (--fail-fraction)."""


@dataclass
class ProcessSample:
    """The count of a prefix's Process steps running from ``time`` on (workflow seconds).

    Stamped as the count changes, under the observer's lock: up after the handler found its lease held,
    down before the task returns, so before its Release. The demo's timeline check relies on it: a step
    is counted only while its lease is in the table.
    """

    time: float
    prefix: str
    running: int


@dataclass
class ProcessObserver:
    timer: Timer
    work_seconds: dict[str, tuple[float, float]]  # prefix -> (shortest, longest) per Process call
    failing_executions: set[str]
    seed: int = 0
    running: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_running: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[ProcessSample] = field(default_factory=list)
    injected: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)

    def _change(self, prefix: str, delta: int) -> None:
        with self._lock:
            self.running[prefix] += delta
            self.max_running[prefix] = max(self.max_running[prefix], self.running[prefix])
            self.samples.append(ProcessSample(self.timer.now(), prefix, self.running[prefix]))

    def __call__(self, invocation: Invocation, event: Any, call_next: Callable[[Any], Any]) -> Any:
        if invocation.name != "process":
            return call_next(event)
        prefix = invocation.environment.get("LEASE_PREFIX", invocation.app_name)
        with self._lock:
            seconds = self._rng.uniform(*self.work_seconds.get(prefix, (1.0, 2.0)))
        execution = invocation.task.execution_arn
        # The handler first: it checks that its run holds a live lease before any work (LeaseLost otherwise),
        # so the heavy step is spent, and counted as running, only under a lease.
        answer = call_next(event)
        self._change(prefix, +1)
        try:
            self.timer.sleep(seconds)
            if execution in self.failing_executions and execution not in self.injected:
                self.injected.add(execution)
                raise InjectedProcessFailure(f"injected into {execution.rsplit(':', 1)[-1]} by the demo")
            return answer
        finally:
            self._change(prefix, -1)
