"""Time as executions see it: workflow seconds, on one of three clocks.

- ``ScaledTimer``: workflow time runs a fixed factor faster than the wall clock (the demo, the
  benchmark). Everything that takes wall time, waiting for an emulator included, takes workflow
  time too, so a slow or busy machine stretches every task in workflow seconds.
- ``FakeTimer``: time moves only when something sleeps on it (exact timing tests).
- ``VirtualClock``: discrete-event time (the chaos suite). Workflow time stands still while any
  thread of the emulated world is working, and jumps to the next deadline once every one of them
  waits on the clock. So a task lasts the workflow seconds it sleeps (a Wait, a retry's backoff,
  the emulated work of a Process step), never the time its requests spend queueing in the
  emulator, and outcomes do not depend on the speed or the load of the machine.

Soundness of ``VirtualClock``: the clock never skips work nor reorders it; it only decides when a
sleeping thread wakes. Threads that are working still run (and race) in parallel, exactly as they
do on the wall clock, so the interleavings that could break an invariant still happen. Work takes
no workflow time, which is what AWS gives a DynamoDB request or a lease Lambda at the scale of a
lease (milliseconds against tasks and leases of minutes). Whoever judges by time (task timeouts,
lease expiry, the cleanup's deferral of an aborted execution's lease) must read this same clock;
then a lease that is gone when a task ends is seen as gone, on any machine.

The emulated world's threads are *participants*: threads started with ``start_thread`` and those
inside ``participating()``. A participant must block only on the clock (``sleep``,
``sleep_unless``, ``wait``, ``wait_until``) or on something another working thread will finish
(a lock, a request to the emulator): waiting on the wall clock for something that needs workflow
time to pass would stop time for ever. A thread that is not a participant may use the clock too;
its work is not waited for.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol


class Timer(Protocol):
    def now(self) -> float:
        """Workflow seconds since an arbitrary origin."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of workflow time pass."""

    def real_seconds(self, seconds: float) -> float:
        """How long ``seconds`` of workflow time last on ``monotonic``."""

    def sleep_unless(self, seconds: float, stop: threading.Event) -> bool:
        """Sleep like ``sleep`` but wake when ``stop`` is set; True if it was."""

    def monotonic(self) -> float:
        """The clock that task deadlines are kept on (``real_seconds`` converts workflow seconds to it)."""

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait until ``event`` is set or ``timeout`` (on ``monotonic``) passes; True if it is set."""

    def start_thread(self, target: Callable[[], object], name: str) -> threading.Thread:
        """Start a daemon thread that works on behalf of an execution (a task, an execution itself)."""

    def utc_now(self) -> datetime.datetime:
        """The date and time where the executions run (a start or stop date, a status change's time)."""


class _WallClockWaits:
    """Waits and threads of a timer whose deadlines are on the wall clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(timeout)

    def start_thread(self, target: Callable[[], object], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def utc_now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC)


class ScaledTimer(_WallClockWaits):
    """Workflow time runs ``scale`` times faster than the wall clock (a Wait of 10 s takes 10/scale s)."""

    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be positive, got {scale}")
        self.scale = scale
        self._origin = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)

    def real_seconds(self, seconds: float) -> float:
        return seconds / self.scale

    def sleep_unless(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(seconds, 0) / self.scale)


class FakeTimer(_WallClockWaits):
    """A clock that only moves when something sleeps on it: for exact timing tests."""

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds

    def real_seconds(self, seconds: float) -> float:
        return seconds

    def sleep_unless(self, seconds: float, stop: threading.Event) -> bool:
        self.sleep(seconds)
        return stop.is_set()


# A wait whose deadline is now still lets time move on by this much: a loop that waits until
# "now > deadline" then always gets there, however the deadline was rounded.
MIN_STEP_SECONDS = 1e-6
TICK_SECONDS = 0.005  # how often the clock looks for waiters that something outside it has woken


@dataclass(eq=False)
class _Waiter:
    ready: Callable[[], bool] | None  # wakes it as soon as it is true
    deadline: float | None  # workflow seconds; None: only ``ready`` wakes it
    participant: bool
    woken: threading.Event = field(default_factory=threading.Event)
    satisfied: bool = False


class VirtualClock:
    """Discrete-event workflow time: it moves only when every participant waits on it (see the module)."""

    def __init__(self, *, epoch: float | None = None, tick_seconds: float = TICK_SECONDS) -> None:
        self.epoch = time.time() if epoch is None else epoch  # the wall-clock instant of workflow second 0
        self._now = 0.0
        self._lock = threading.Lock()
        self._busy = 0  # participants not waiting on the clock
        self._waiters: list[_Waiter] = []
        self._local = threading.local()
        self._closed = threading.Event()
        self.jumps = 0  # how often time moved on
        self.progress = 0  # waits begun and ended: unchanged for long, the world is stuck (not merely slow)
        self._ticker = threading.Thread(target=self._tick, args=(tick_seconds,), name="virtual-clock", daemon=True)
        self._ticker.start()

    # -- reading -------------------------------------------------------------------------------

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    def real_seconds(self, seconds: float) -> float:
        return seconds

    def time(self) -> float:
        """Epoch seconds of the emulated world: what ``time.time()`` would say there (the lease core's clock)."""
        return self.epoch + self._now

    def utc_now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.time(), datetime.UTC)

    # -- waiting -------------------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._block(None, seconds)

    def sleep_unless(self, seconds: float, stop: threading.Event) -> bool:
        if stop.is_set() or seconds <= 0:
            return stop.is_set()
        self._block(stop.is_set, seconds)
        return stop.is_set()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return self._block(event.is_set, max(timeout, 0.0))

    def wait_until(
        self, ready: Callable[[], bool], timeout: float | None = None, *, real_timeout: float | None = None
    ) -> bool:
        """Wait until ``ready()`` is true, or ``timeout`` workflow seconds pass; True if it is.

        ``ready`` is called with the clock's lock held: it must be quick and take no lock.
        ``real_timeout`` gives up after that many wall-clock seconds (a guard against a stuck world).
        """
        return self._block(ready, timeout, real_timeout=real_timeout)

    # -- participants --------------------------------------------------------------------------

    def _is_participant(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    def start_thread(self, target: Callable[[], object], name: str) -> threading.Thread:
        """Start a participant: counted as working from this call on, so that time cannot move before it runs."""
        with self._lock:
            self._busy += 1

        def run() -> None:
            self._local.depth = 1
            try:
                target()
            finally:
                self._local.depth = 0
                with self._lock:
                    self._busy -= 1
                    self._settle()

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        return thread

    @contextlib.contextmanager
    def participating(self) -> Iterator[None]:
        """Make the calling thread a participant for the block: time stands still while it works."""
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            with self._lock:
                self._busy += 1
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                with self._lock:
                    self._busy -= 1
                    self._settle()

    def close(self) -> None:
        """Stop the clock's own thread (the clock still answers; nothing wakes a waiter by ``ready`` any more)."""
        self._closed.set()
        self._ticker.join()

    # -- the scheduler -------------------------------------------------------------------------

    def _block(
        self, ready: Callable[[], bool] | None, timeout: float | None, *, real_timeout: float | None = None
    ) -> bool:
        with self._lock:
            if ready is not None and ready():
                return True
            deadline = None if timeout is None else self._now + max(timeout, MIN_STEP_SECONDS)
            waiter = _Waiter(ready, deadline, self._is_participant())
            self._waiters.append(waiter)
            self.progress += 1
            if waiter.participant:
                self._busy -= 1
            self._settle()
        if not waiter.woken.wait(real_timeout):
            with self._lock:
                if waiter in self._waiters:  # still waiting: give up on it
                    self._waiters.remove(waiter)
                    if waiter.participant:
                        self._busy += 1
                    return False
        return waiter.satisfied

    def _wake(self, waiter: _Waiter, satisfied: bool) -> None:
        self.progress += 1
        self._waiters.remove(waiter)
        if waiter.participant:
            self._busy += 1
        waiter.satisfied = satisfied
        waiter.woken.set()

    def _settle(self) -> None:
        """With the lock held: wake every waiter that is ready; if none is and nobody works, move time on."""
        ready = [w for w in self._waiters if w.ready is not None and w.ready()]
        for waiter in ready:
            self._wake(waiter, True)
        if ready or self._busy > 0:
            return
        deadlines = [w.deadline for w in self._waiters if w.deadline is not None]
        if not deadlines:
            return  # every participant waits for something only a non-participant can do
        self._now = max(self._now, min(deadlines))
        self.jumps += 1
        for waiter in [w for w in self._waiters if w.deadline is not None and w.deadline <= self._now]:
            self._wake(waiter, False)

    def _tick(self, seconds: float) -> None:
        while not self._closed.wait(seconds):
            with self._lock:
                self._settle()
