"""Time as executions see it: workflow seconds, run faster than real time by a scale factor."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Timer(Protocol):
    def now(self) -> float:
        """Workflow seconds since an arbitrary origin."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of workflow time pass."""

    def real_seconds(self, seconds: float) -> float:
        """How long ``seconds`` of workflow time last on the wall clock."""

    def sleep_unless(self, seconds: float, stop: threading.Event) -> bool:
        """Sleep like ``sleep`` but wake when ``stop`` is set; True if it was."""


class ScaledTimer:
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


class FakeTimer:
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
