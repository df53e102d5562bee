"""Simulated time: one event loop, and the real code running in worker threads that take turns.

The loop pops events ``(time, sequence, action)`` from a heap and runs each at its simulated time.
Code that must run unmodified and synchronously (the lease core, botocore, the baselines) runs in a
worker thread: a Lambda invocation is a job given to a worker, and the worker runs until the code
pauses (a DynamoDB request's latency, a retry's sleep), which schedules the worker's wake-up as an
event and hands control back to the loop. Exactly one thread runs at any moment (a baton: each
side waits on its own semaphore), so the simulation is deterministic for a seed, every DynamoDB
request reaches the table model in simulated-time order, and requests of different invocations
interleave as they would on AWS.

A worker is also a Lambda execution environment: it keeps its objects (a boto3 client, with its
own retry quota) between the invocations it serves, and a new one is created only when every
existing one is busy, as Lambda scales out.

``simulated_time`` replaces the ``time`` attribute of the modules that pause or read the clock (the
lease core's, as ``core_calls.pausing_modules`` finds them; botocore's ``endpoint``, which sleeps between
retries; the count-then-put baseline) while a run lasts: their ``time.sleep`` advances simulated time
instead of sleeping, and ``time.time`` reads the simulated clock where asked to. Nothing else is patched,
and everything is restored after. Why by hand: the code under test must run unmodified and synchronously,
and a discrete-event library (SimPy) drives generators, not threads that call ``time.sleep``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time as real_time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

# 2026-01-01T00:00:00Z: the simulated epoch of every run (leases carry epoch seconds).
START_EPOCH = 1_767_225_600.0


class SimulationClosed(BaseException):
    """Raised in a worker paused when the run was cut short (``close``): it unwinds and its job ends unfinished."""


class InvocationTimedOut(BaseException):
    """Raised in a worker at its first pause past its invocation's deadline: Lambda stopped the function.

    A BaseException, so that neither botocore (``except Exception``) nor the code under test catches it:
    like a Lambda timeout, the code simply stops where it was.
    """


@dataclass
class Job:
    fn: Callable[[], Any]
    on_done: Callable[[Any, BaseException | None], None]
    deadline: float = math.inf
    result: Any = None
    error: BaseException | None = None
    done: bool = False


class Worker:
    """A thread that runs one job at a time, only while the loop has handed it the baton."""

    def __init__(self, simulation: Simulation, index: int) -> None:
        self.simulation = simulation
        self.index = index
        self.go = threading.Semaphore(0)
        self.job: Job | None = None
        self.state: dict[str, Any] = {}  # what this execution environment keeps between invocations
        self.thread = threading.Thread(target=self._main, name=f"burst-worker-{index}", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        self.simulation._local.worker = self
        while True:
            self.go.acquire()
            job = self.job
            if job is None:
                return
            try:
                job.result = job.fn()
            except BaseException as exc:  # handed to the loop, which decides (a Lambda error, a timeout)
                job.error = exc
            job.done = True
            self.simulation._baton.release()


class Simulation:
    """The event loop and its workers; ``now`` is seconds since the start, ``clock()`` epoch seconds."""

    def __init__(self, start_epoch: float = START_EPOCH) -> None:
        self.now = 0.0
        self.start_epoch = start_epoch
        self.events = 0
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._baton = threading.Semaphore(0)
        self._local = threading.local()
        self._idle: list[Worker] = []
        self.workers: list[Worker] = []
        self.busy_workers = 0
        self.peak_busy_workers = 0
        self._closing = False

    def clock(self) -> float:
        return self.start_epoch + self.now

    # -- events ------------------------------------------------------------------------------------

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._sequence), action))

    def after(self, delay: float, action: Callable[[], None]) -> None:
        self.at(self.now + max(0.0, delay), action)

    def run(self, until: float = math.inf) -> None:
        """Run events in time order until none is left or the next one is later than ``until``."""
        heap = self._heap
        while heap:
            when, _, action = heap[0]
            if when > until:
                self.now = until  # nothing happens before then
                return
            heapq.heappop(heap)
            self.now = when
            self.events += 1
            action()

    def pending(self) -> int:
        return len(self._heap)

    # -- workers -----------------------------------------------------------------------------------

    def current_worker(self) -> Worker | None:
        return getattr(self._local, "worker", None)

    def spawn(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any, BaseException | None], None],
        *,
        deadline: float = math.inf,
    ) -> None:
        """Run ``fn`` in a free worker from now; ``on_done(result, error)`` runs in the loop when it ends."""
        worker = self._idle.pop() if self._idle else self._new_worker()
        worker.job = Job(fn, on_done, deadline)
        self.busy_workers += 1
        self.peak_busy_workers = max(self.peak_busy_workers, self.busy_workers)
        self._switch_to(worker)

    def _new_worker(self) -> Worker:
        worker = Worker(self, len(self.workers))
        self.workers.append(worker)
        return worker

    def _switch_to(self, worker: Worker) -> None:
        worker.go.release()
        self._baton.acquire()  # until the worker pauses or ends its job
        job = worker.job
        if job is not None and job.done:
            worker.job = None
            self.busy_workers -= 1
            self._idle.append(worker)
            job.on_done(job.result, job.error)

    def sleep(self, seconds: float, *, outside_the_function: bool = False) -> None:
        """Pause the calling worker for ``seconds`` of simulated time (the loop runs meanwhile).

        ``outside_the_function``: a wait that is not the function's own time (a state machine's Retry
        interval folded into a call), so it pushes the invocation's deadline back by as much.
        """
        worker = self.current_worker()
        if worker is None or worker.job is None:
            raise RuntimeError("Simulation.sleep is for code running in a worker")
        job = worker.job
        if outside_the_function:
            job.deadline += max(0.0, seconds)
        wake = min(self.now + max(0.0, seconds), job.deadline)
        self.at(wake, lambda: self._switch_to(worker))
        self._baton.release()
        worker.go.acquire()
        if self._closing:
            raise SimulationClosed("the run ended while this invocation was paused")
        if self.now >= job.deadline:
            raise InvocationTimedOut(f"invocation ran past its deadline at {job.deadline:.3f} s")

    def close(self) -> None:
        """End every worker thread; a worker paused mid-invocation (a run cut short) is unwound first, its
        job left unfinished (``on_done`` is not called)."""
        self._closing = True
        for worker in self.workers:
            if worker.job is not None and not worker.job.done:
                worker.go.release()
                self._baton.acquire()  # until it has unwound
            worker.job = None
            worker.go.release()
        for worker in self.workers:
            worker.thread.join(timeout=5)
        self.workers.clear()
        self._idle.clear()


class SimulatedTime:
    """A stand-in for the ``time`` module: ``sleep`` in a worker advances simulated time; ``time`` reads the
    simulated clock if ``clock`` is set; everything else is the real module."""

    def __init__(self, simulation: Simulation, *, clock: bool) -> None:
        self._simulation = simulation
        self._clock = clock

    def sleep(self, seconds: float) -> None:
        if self._simulation.current_worker() is not None:
            self._simulation.sleep(seconds)
        else:
            real_time.sleep(seconds)

    def time(self) -> float:
        return self._simulation.clock() if self._clock else real_time.time()

    def __getattr__(self, name: str) -> Any:
        return getattr(real_time, name)


@contextmanager
def simulated_time(
    simulation: Simulation, sleeping: list[ModuleType], clocked: list[ModuleType] | None = None
) -> Iterator[None]:
    """Give ``sleeping`` modules simulated sleeps, and ``clocked`` modules simulated sleeps and clock."""
    modules = [(module, False) for module in sleeping] + [(module, True) for module in clocked or []]
    saved = [(module, module.time) for module, _ in modules]  # type: ignore[attr-defined]
    for module, clock in modules:
        module.time = SimulatedTime(simulation, clock=clock)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, original in saved:
            module.time = original  # type: ignore[attr-defined]
