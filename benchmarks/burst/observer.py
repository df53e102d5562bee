"""What a burst run measures for one prefix, as the simulation runs (all times simulated seconds).

- **admission**: the moment an execution's Process starts its work (after its lease check passed);
  *arrival to admission* is measured from the execution's start.
- **over-admission**: after every write that changed one of the prefix's items, the holders are counted in
  the table (``Design.holders_in_table``); any count above the cap is an over-admission (the most, and how
  many writes left the table over the cap). Process steps running at once are counted too.
- **throughput**: from the moment the cap is first reached (Process steps running at the cap, or an
  acquire answered ``wait`` or ``queued``), while at least one execution waits (arrived,
  not admitted, not ended), the slots run Process steps a share *u* of the time (**slot use while
  waiting** = 1 - idle slot-seconds / (cap x time anyone waited)). Each admission brings one Process step of
  the mean length, so admissions then go at *u* x the bound, the bound being cap / mean Process time (no
  design can admit faster and keep the cap): the targets compare *u* with 95%. The raw count (admissions
  after Process steps first ran at the cap / time to the last admission) is reported beside it: it tends to the same
  figure as a run lengthens, but a short run is dominated by its start, where every slot was taken at once
  and none frees before the shortest Process ends.
- **idle slot-seconds** = the integral, over that same time, of ``cap - Process steps running``; reported
  per admission made after the cap was reached.
- **slot free to next admission**: each Release state's start, while executions wait, frees a slot; the
  next admission takes the oldest such slot. The state starts before its Lambda runs and its write lands,
  so this errs long by the release's own dispatch and request time.
- **lost wakeup** (handoff): a stretch longer than ``lost_wakeup_bound`` seconds during which the table
  holds fewer holders than the cap while at least one execution sits queued (its acquire answered
  ``queued`` and it has not been told).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from benchmarks.burst.simulation import Simulation


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class PrefixObserver:
    simulation: Simulation
    design: str
    wait_mode: str
    prefix: str
    cap: int
    executions: int
    lost_wakeup_bound: float
    process_seconds_total: float = 0.0
    waiting: int = 0
    running: int = 0
    queued: int = 0
    holders: int = 0
    max_holders: int = 0
    max_running: int = 0
    over_cap_writes: int = 0
    over_cap_first_at: float | None = None
    admissions: list[float] = field(default_factory=list)  # times
    latencies: list[float] = field(default_factory=list)  # arrival to admission
    slot_gaps: list[float] = field(default_factory=list)
    failed: Counter[str] = field(default_factory=Counter)  # by the error that sent it to the failure path
    succeeded: int = 0
    polls: int = 0
    requeues: int = 0  # handoff re-checks (Acquire entered again after its wait timed out)
    lease_lost: int = 0
    steady_from: float | None = None  # the cap first reached: Process steps at the cap, or a wait/queued answer
    running_full_from: float | None = None  # Process steps first running at the cap
    idle_slot_seconds: float = 0.0
    waiting_seconds: float = 0.0
    lost_wakeups: int = 0
    longest_free_while_queued: float = 0.0
    _freed: deque[float] = field(default_factory=deque)
    _last: float = 0.0
    _free_since: float | None = None

    # -- integration ------------------------------------------------------------------------------------

    def _advance(self) -> None:
        now = self.simulation.now
        span = now - self._last
        if span > 0 and self.steady_from is not None and self.waiting > 0:
            self.waiting_seconds += span
            self.idle_slot_seconds += max(0, self.cap - self.running) * span
        self._last = now

    def _check_free_while_queued(self) -> None:
        now = self.simulation.now
        free = self.holders < self.cap and self.queued > 0
        if free and self._free_since is None:
            self._free_since = now
        elif not free and self._free_since is not None:
            self._close_free(now)

    def _close_free(self, now: float) -> None:
        assert self._free_since is not None
        length = now - self._free_since
        self.longest_free_while_queued = max(self.longest_free_while_queued, length)
        if length > self.lost_wakeup_bound:
            self.lost_wakeups += 1
        self._free_since = None

    # -- events -------------------------------------------------------------------------------------------

    def arrived(self, process_seconds: float) -> None:
        self._advance()
        self.waiting += 1
        self.process_seconds_total += process_seconds

    def _cap_reached(self) -> None:
        if self.steady_from is None:
            self._advance()
            self.steady_from = self.simulation.now

    def told_to_wait(self) -> None:
        self.polls += 1
        self._cap_reached()

    def admitted(self, arrival: float) -> None:
        self._advance()
        now = self.simulation.now
        self.waiting -= 1
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        self.admissions.append(now)
        self.latencies.append(now - arrival)
        if self._freed:
            self.slot_gaps.append(now - self._freed.popleft())
        if self.running >= self.cap:
            self._cap_reached()
            if self.running_full_from is None:
                self.running_full_from = now

    def process_ended(self) -> None:
        self._advance()
        self.running -= 1

    def releasing(self) -> None:
        if self.waiting > 0:
            self._freed.append(self.simulation.now)

    def ended(self, *, succeeded: bool, error: str | None, was_waiting: bool) -> None:
        self._advance()
        if was_waiting:
            self.waiting -= 1
        if succeeded:
            self.succeeded += 1
        else:
            self.failed[error or "unknown"] += 1

    def queued_changed(self, delta: int) -> None:
        if delta > 0:
            self._cap_reached()
        self.queued += delta
        self._check_free_while_queued()

    def holders_now(self, holders: int) -> None:
        self.holders = holders
        self.max_holders = max(self.max_holders, holders)
        if holders > self.cap:
            self.over_cap_writes += 1
            if self.over_cap_first_at is None:
                self.over_cap_first_at = self.simulation.now
        self._check_free_while_queued()

    def finish(self) -> None:
        self._advance()
        if self._free_since is not None:
            self._close_free(self.simulation.now)

    # -- results ------------------------------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        bound = self.cap * self.executions / self.process_seconds_total if self.process_seconds_total else None
        window = None
        steady_admissions = 0
        raw_rate = None
        if self.steady_from is not None:
            steady_admissions = sum(1 for when in self.admissions if when > self.steady_from)
        if self.running_full_from is not None and self.admissions:
            window = self.admissions[-1] - self.running_full_from
            after_full = sum(1 for when in self.admissions if when > self.running_full_from)
            raw_rate = after_full / window if window > 0 else None
        use = 1 - self.idle_slot_seconds / (self.cap * self.waiting_seconds) if self.waiting_seconds else None
        return {
            "design": self.design,
            "wait_mode": self.wait_mode,
            "prefix": self.prefix,
            "cap": self.cap,
            "executions": self.executions,
            "admitted": len(self.admissions),
            "succeeded": self.succeeded,
            "failed": sum(self.failed.values()),
            "failed_by_error": dict(self.failed),
            "unfinished": self.executions - self.succeeded - sum(self.failed.values()),
            "admissions_per_second": None if use is None or bound is None else use * bound,
            "bound_admissions_per_second": bound,
            "throughput_of_bound": use,
            "raw_admissions_per_second": raw_rate,
            "raw_throughput_of_bound": None if raw_rate is None or not bound else raw_rate / bound,
            "steady_window_seconds": window,
            "steady_admissions": steady_admissions,
            "p50_arrival_to_admission": percentile(self.latencies, 0.50),
            "p99_arrival_to_admission": percentile(self.latencies, 0.99),
            "max_arrival_to_admission": max(self.latencies, default=None),
            "idle_slot_seconds": self.idle_slot_seconds,
            "waiting_seconds": self.waiting_seconds,
            "slot_use_while_waiting": use,
            "idle_slot_seconds_per_admission": (
                self.idle_slot_seconds / steady_admissions if steady_admissions else None
            ),
            "p50_slot_free_to_admission": percentile(self.slot_gaps, 0.50),
            "p99_slot_free_to_admission": percentile(self.slot_gaps, 0.99),
            "max_holders_in_table": self.max_holders,
            "holders_at_end": self.holders,  # after the last write: a slot left held by an ended execution
            "over_admission": max(0, self.max_holders - self.cap),
            "writes_over_cap": self.over_cap_writes,
            "max_process_at_once": self.max_running,
            "lost_wakeups": self.lost_wakeups if self.wait_mode == "handoff" else None,
            "longest_free_slot_while_queued": self.longest_free_while_queued,
            "polls": self.polls,
            "rechecks": self.requeues,
            "lease_lost_in_process": self.lease_lost,
        }
