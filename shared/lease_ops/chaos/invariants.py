"""The invariants every chaos scenario checks, and where their violations are collected.

1. Holders of a prefix never exceed its cap: checked in the table after every
   state an execution leaves (workflow scenarios), or on every sample with the
   cap changes taken into account (the scale scenario).
2. No Process step runs without a lease: ``lambda_faults.ProcessGuard`` checks
   the table before and after every Process call.
3. No holder outlives its execution's end by more than one sweep (plus, for an
   aborted execution, the time a task it started may still run):
   ``leftover_holders`` after the final sweep.
4. Handoff mode: no execution is still queued for a slot after it ended
   (``leftover_waiters``), and the queue count matches the queue.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lease_core import LeaseSemaphore, UnknownPrefix
from lease_core.execution_arns import execution_of
from lease_core.item_layout import holder_key, run_key
from lease_core.waiting_room import WaitingRoom
from lease_ops.local_runner import HistoryEvent

MAX_RUNS = 10  # redrives a scenario makes of one execution, at most

CHECKED_EVENTS = {"StateExited", "TaskSucceeded", "TaskFailed", "ExecutionAborted"}


@dataclass
class CapMonitor:
    """Reads the prefix's semaphore after each step of any execution and records any holder count over the cap.

    After the cap was lowered live, holders above the new cap are allowed to drain, but nobody may be
    admitted while they number the cap or more: a reading over the cap with a holder the previous
    reading did not have is then the violation.
    """

    dynamodb: Any
    table: str
    prefix_of_machine: dict[str, str]
    checks: int = 0
    violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._previous: dict[str, set[str]] = {}
        self._highest_cap: dict[str, int] = {}

    def on_event(self, event: HistoryEvent) -> None:
        if event.type not in CHECKED_EVENTS:
            return
        machine = event.execution_arn.split(":execution:", 1)[1].split(":", 1)[0]
        prefix = self.prefix_of_machine[machine]
        try:
            snapshot = LeaseSemaphore(self.dynamodb, self.table, prefix).inspect()
        except UnknownPrefix:
            return
        holders = set(snapshot.holders)
        with self._lock:
            self.checks += 1
            newcomers = holders - self._previous.get(prefix, set())
            self._previous[prefix] = holders
            lowered = snapshot.cap < self._highest_cap.setdefault(prefix, snapshot.cap)
            self._highest_cap[prefix] = max(self._highest_cap[prefix], snapshot.cap)
            if len(holders) > snapshot.cap and (newcomers or not lowered):
                admitted = f", admitting {len(newcomers)}" if lowered else ""
                self.violations.append(
                    f"{prefix}: {len(holders)} holders over the cap {snapshot.cap} after {event.state}{admitted}"
                )


@dataclass
class WindowedCapMonitor:
    """For runs with live cap changes: a sample may exceed the cap only with holders already there before.

    Lowering a cap below the holder count is allowed and admits nobody new; so a
    sample is a violation when it has more holders than the larger of the caps in
    force at this and the previous sample *and* a holder the previous sample did
    not have.
    """

    previous: dict[str, tuple[set[str], int]] = field(default_factory=dict)
    samples: int = 0
    violations: list[str] = field(default_factory=list)

    def observe(self, prefix: str, holders: Iterable[str], cap: int) -> None:
        current = set(holders)
        self.samples += 1
        before, cap_before = self.previous.get(prefix, (set(), cap))
        newcomers = current - before
        if len(current) > max(cap, cap_before) and newcomers:
            self.violations.append(
                f"{prefix}: {len(current)} holders with cap {cap} (was {cap_before}), newcomers {sorted(newcomers)[:3]}"
            )
        self.previous[prefix] = (current, cap)


def execution_of_holder(holder: str) -> str:
    """The execution ARN a holder id names (``<ARN>``, ``<ARN>#<run>``, either with ``/<index>``), else the id."""
    match = execution_of(holder)
    return match["arn"] if match is not None else holder.split("/", 1)[0]


def leftover_holders(dynamodb: Any, table: str, prefixes: Iterable[str], ended: set[str]) -> list[str]:
    """Holders still in the table whose execution (or holder id) is among the ended ones."""
    # The table stores holder keys: the ended executions' keys of every run a scenario can reach, and
    # the keys of ended holder ids that name no execution.
    ended_keys = {run_key(arn, run) for arn in ended for run in range(MAX_RUNS)} | {holder_key(h) for h in ended}
    left = []
    for prefix in prefixes:
        try:
            keys = LeaseSemaphore(dynamodb, table, prefix).inspect().holders
        except UnknownPrefix:
            continue
        left += [f"{prefix}: {key}" for key in keys if key.split("/", 1)[0] in ended_keys]
    return left


def leftover_waiters(dynamodb: Any, table: str, prefixes: Iterable[str], ended: set[str]) -> list[str]:
    """Waiters still queued whose execution ended, and queue counts that disagree with their queue."""
    left = []
    for prefix in prefixes:
        semaphore = LeaseSemaphore(dynamodb, table, prefix)
        try:
            counted = semaphore.inspect().waiting
        except UnknownPrefix:
            continue
        waiters = WaitingRoom(semaphore).waiters()
        left += [f"{prefix}: {w.holder} still queued" for w in waiters if execution_of_holder(w.holder) in ended]
        if counted != len(waiters):
            left.append(f"{prefix}: the queue count says {counted} but {len(waiters)} are queued")
    return left
