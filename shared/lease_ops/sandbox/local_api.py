"""`make local`: the platform app's API under `chalice local`, on the embedded moto, with leases to look at.

Executions of both workflows keep running in the background (the local runner,
real time, long Process steps, a few more than each cap so that some wait),
while `chalice local` serves lease_app's routes against the same table.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from rich.console import Console

from lease_ops.config.platform_config import PlatformConfig
from lease_ops.config.samples import sample_input
from lease_ops.local_runner import LocalRunner, RunningExecution, ScaledTimer
from lease_ops.provisioning.vendoring import vendor_runtime
from lease_ops.sandbox.embedded_platform import EmbeddedPlatform, embedded_platform
from lease_ops.sandbox.process_steps import ProcessObserver

CHALICE = Path(sys.executable).with_name("chalice")
DEFAULT_RUNNING = {"analytics": 18, "batch": 7}
PROCESS_SECONDS = (20.0, 60.0)


def _stop_process_group(process: subprocess.Popen[bytes]) -> None:
    for sent in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sent)
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class ExecutionKeeper:
    """Keeps a number of executions of each workflow running, starting a new one as each ends."""

    def __init__(self, platform: EmbeddedPlatform, runner: LocalRunner, running: dict[str, int]) -> None:
        self.platform = platform
        self.runner = runner
        self.running = running
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="execution-keeper", daemon=True)
        self._started = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _start_one(self, name: str) -> RunningExecution:
        workload = self.platform.config.workload(name)
        self._started += 1
        return self.runner.start(
            self.platform.state_machine_arns[name],
            self.platform.definitions[name],
            sample_input(workload, random.Random(self._started)),
            name=f"local-{workload.prefix}-{self._started:05d}",
        )

    def _keep(self) -> None:
        active: dict[str, list[RunningExecution]] = {name: [] for name in self.running}
        while not self._stop.is_set():
            for name, wanted in self.running.items():
                active[name] = [execution for execution in active[name] if execution.result is None]
                while len(active[name]) < wanted:
                    active[name].append(self._start_one(name))
            self._stop.wait(1.0)


def serve_local(config: PlatformConfig, console: Console, *, port: int, running: dict[str, int]) -> None:
    wanted = {w.name: running.get(w.name, DEFAULT_RUNNING.get(w.name, 3)) for w in config.workloads.values()}
    app_dir = config.app_dir(config.platform_app)
    vendor_runtime(app_dir)  # chalice local imports vendor/ first: it must hold this lease_core, not an old copy
    with embedded_platform(config, console) as platform:
        timer = ScaledTimer(1.0)
        dispatcher = platform.dispatcher()
        dispatcher.add_interceptor(
            ProcessObserver(timer, {w.prefix: PROCESS_SECONDS for w in config.workloads.values()}, set())
        )
        keeper = ExecutionKeeper(platform, LocalRunner(dispatcher, timer=timer), wanted)
        keeper.start()
        console.print(
            f"keeping {', '.join(f'{n} {name}' for name, n in wanted.items())} executions running "
            f"(Process steps of {PROCESS_SECONDS[0]:g}-{PROCESS_SECONDS[1]:g} s)"
        )
        base = f"http://127.0.0.1:{port}"
        console.print(f"lease_app API on {base} (chalice local; IAM authorization applies only when deployed). Try:")
        for example in (
            f"curl -s {base}/prefixes",
            f"curl -s {base}/prefixes/batch",
            f"curl -s -X PUT -H 'Content-Type: application/json' -d '{{\"cap\": 3}}' {base}/prefixes/batch/cap",
        ):
            console.print(f"  {example}", markup=False)
        console.print("Ctrl-C stops everything.")
        console.file.flush()
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        server = subprocess.Popen(
            [
                str(CHALICE),
                "local",
                "--no-autoreload",
                "--stage",
                config.stage,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=app_dir,
            start_new_session=True,  # its own process group: stopping it stops everything it started
        )
        try:
            # Polled, not server.wait(): Ctrl-C may be delivered to another of this process's threads, and then
            # nothing interrupts a blocking wait; Python raises KeyboardInterrupt in the main thread at its next
            # step, which a short sleep gives it.
            while server.poll() is None:
                time.sleep(0.2)
        except KeyboardInterrupt:
            console.print("stopping")
        finally:
            _stop_process_group(server)
            keeper.stop()
