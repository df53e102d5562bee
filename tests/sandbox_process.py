"""`python -m lease_ops sandbox` in a subprocess, as a user starts it: for the tests that drive the operator
path against it (tests/functional/test_sandbox.py, test_new_workload.py)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from lease_ops.config.chalice_apps import REPOSITORY_ROOT
from tests.helpers import interruptible

ENDPOINT_LINE = "AWS_ENDPOINT_URL="


class SandboxProcess:
    """`python -m lease_ops sandbox` as a user starts it, its output read line by line as it comes."""

    def __init__(self, *arguments: str) -> None:
        environment = {name: value for name, value in os.environ.items() if name != "AWS_ENDPOINT_URL"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lease_ops", "sandbox", *arguments],
            cwd=REPOSITORY_ROOT,
            preexec_fn=interruptible,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []  # every line of stdout read so far
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def _take(self) -> None:
        while not self.lines.empty():
            self.out.append(self.lines.get())

    def endpoint(self, timeout: float = 60.0) -> str:
        """The URL of the line ``AWS_ENDPOINT_URL=...``, once printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            self.out.append(line)
            if line.startswith(ENDPOINT_LINE):
                return line.removeprefix(ENDPOINT_LINE)
        raise AssertionError(f"no {ENDPOINT_LINE} line within {timeout} s: {self.out}")

    def wait(self, sent: signal.Signals | None = None) -> tuple[int, str]:
        """Send ``sent`` (if any), wait for the exit and all of stdout; returns the exit code and stderr."""
        if sent is not None and self.process.poll() is None:
            self.process.send_signal(sent)
        exit_code = self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        self._take()
        assert self.process.stderr is not None
        return exit_code, self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@contextmanager
def sandbox_process(*arguments: str) -> Iterator[SandboxProcess]:
    started = SandboxProcess(*arguments)
    try:
        yield started
    finally:
        started.kill()
