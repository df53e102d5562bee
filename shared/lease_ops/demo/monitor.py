"""Live state of a demo run: where each execution is (from runner events) and how many holders each
prefix has in the table (sampled), for the progress display, the report and the timeline."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lease_core import LeaseSemaphore, LeaseStoreUnavailable, UnknownPrefix
from lease_ops.definitions.workflow_builder import POLL_WAIT_STATES
from lease_ops.local_runner import HistoryEvent
from lease_ops.local_runner.timing import Timer

WAITING_STATES = {"Acquire", "CheckLease", *POLL_WAIT_STATES, "PrepareChunks"}


@dataclass(frozen=True)
class HolderSample:
    """One read of a prefix's holders, stamped with both ends of the request (workflow seconds).

    The table answers from one instant (a strongly consistent GetItem of the semaphore item; the Query
    of a wide prefix's holders), but which instant is unknown: any time after the request was sent and
    before its answer came back, which under load is long after. Neither end alone is honest: a
    stamp at ``sent`` claims the count held from then (the old plot drew a late answer back to its
    request, then held it until the next one), a stamp at ``answered`` claims it was still true then.
    So a sample is known only over ``[sent, answered]``, drawn and checked over that interval, and
    nothing is claimed between two reads.
    """

    sent: float
    answered: float
    prefix: str
    holders: int


@dataclass
class DemoMonitor:
    """Fed by the runner's listener and by a sampler thread reading the table."""

    prefixes: dict[str, str]  # state machine name -> prefix
    dynamodb: Any
    table: str
    timer: Timer
    sample_every: float = 0.05
    phase: dict[str, str] = field(default_factory=dict)  # execution ARN -> waiting/holding/succeeded/failed
    prefix_of: dict[str, str] = field(default_factory=dict)
    holder_samples: list[HolderSample] = field(default_factory=list)
    latest_holders: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="holder-sampler", daemon=True)

    def on_event(self, event: HistoryEvent) -> None:
        machine = event.execution_arn.split(":execution:", 1)[1].split(":", 1)[0]
        with self._lock:
            self.prefix_of.setdefault(event.execution_arn, self.prefixes.get(machine, machine))
            if event.type == "ExecutionSucceeded":
                self.phase[event.execution_arn] = "succeeded"
            elif event.type == "ExecutionFailed":
                self.phase[event.execution_arn] = "failed"
            elif event.type == "StateEntered" and event.state is not None:
                waiting = event.state in WAITING_STATES and self.phase.get(event.execution_arn) in (None, "waiting")
                self.phase[event.execution_arn] = "waiting" if waiting else "holding"

    def counts(self, prefix: str) -> Counter[str]:
        with self._lock:
            return Counter(phase for arn, phase in self.phase.items() if self.prefix_of[arn] == prefix)

    def start(self) -> None:
        self._sampler.start()

    def stop(self) -> None:
        self._stop.set()
        self._sampler.join()

    def _sample(self) -> None:
        semaphores = {prefix: LeaseSemaphore(self.dynamodb, self.table, prefix) for prefix in self.prefixes.values()}
        while not self._stop.is_set():
            for prefix, semaphore in semaphores.items():
                sent = self.timer.now()
                try:
                    holders = len(semaphore.inspect().holders)
                except (UnknownPrefix, LeaseStoreUnavailable):
                    continue
                sample = HolderSample(sent, self.timer.now(), prefix, holders)
                with self._lock:
                    self.latest_holders[prefix] = holders
                    self.holder_samples.append(sample)
            self._stop.wait(self.sample_every)
