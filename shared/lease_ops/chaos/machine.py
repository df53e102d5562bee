"""The machine a chaos run ran on and the load it ran under; and a CPU hog, to load it on purpose.

A results file says where its figures come from: the machine (cores, CPU model,
system, Python) and the load during the run — the load averages at its start
and end, the share of the machine's CPU time that was busy over the run (from
``/proc/stat``, Linux only), and how much of that was this run's own. The
rest (``other_busy_share``) is what else ran meanwhile: other jobs, or a
``cpu_hog``.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROC_STAT = Path("/proc/stat")
CPU_INFO = Path("/proc/cpuinfo")
HOG_PROGRAM = "while True: pass"


def cpu_model() -> str | None:
    try:
        for line in CPU_INFO.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "system": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
    }


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of the whole machine since boot, or None where /proc/stat is missing."""
    try:
        fields = PROC_STAT.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [float(value) for value in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal (guest time is inside user)
    return total - idle, total


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def _own_cpu_seconds() -> float:
    """CPU time of this process (a hog it started is not its own work: it counts as other load)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


class LoadMeter:
    """Measures a run: wall seconds, load averages, and the machine's busy share with this run's part of it."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._cpu = _cpu_times()
        self._own = _own_cpu_seconds()
        self._load = _load_average()

    def report(self) -> dict[str, Any]:
        wall = time.monotonic() - self._started
        own_cpu = _own_cpu_seconds() - self._own
        cpus = os.cpu_count() or 1
        report: dict[str, Any] = {
            "seconds": round(wall, 1),
            "load_average_at_start": self._load,
            "load_average_at_end": _load_average(),
            "own_cpu_seconds": round(own_cpu, 1),
            "own_busy_share": round(own_cpu / (wall * cpus), 3) if wall > 0 else None,
            "busy_share": None,
            "other_busy_share": None,
        }
        now = _cpu_times()
        if self._cpu is not None and now is not None and now[1] > self._cpu[1]:
            busy = (now[0] - self._cpu[0]) / (now[1] - self._cpu[1])
            report["busy_share"] = round(busy, 3)
            report["other_busy_share"] = round(max(0.0, busy - report["own_busy_share"]), 3)
        return report


def usable_cores() -> int:
    """The cores this process may run on (a container's share, where the system says so)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def cpu_hog(per_core: int = 2, *, cores: set[int] | None = None) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Keep cores busy while open: ``per_core`` busy-looping Python processes per core.

    By default on every usable core. With ``cores`` (Linux), the hogs and the calling thread (so every thread
    it starts meanwhile: a scenario's whole world) are pinned to those cores, and the other cores stay free
    for whatever else runs, e.g. the other workers of a test run.
    """
    pinned = cores is not None and hasattr(os, "sched_setaffinity")
    saved = os.sched_getaffinity(0) if pinned else None
    count = per_core * (len(cores) if cores else usable_cores())
    hogs = [subprocess.Popen([sys.executable, "-c", HOG_PROGRAM], stdin=subprocess.DEVNULL) for _ in range(count)]
    try:
        if pinned:
            for hog in hogs:
                os.sched_setaffinity(hog.pid, cores)
            os.sched_setaffinity(0, cores)
        yield hogs
    finally:
        if saved is not None:
            os.sched_setaffinity(0, saved)
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()
