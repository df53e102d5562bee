"""`make sandbox`: the embedded AWS of `make demo` as a server, for the operator path from bootstrap to destroy.

`make deploy` cannot run against a plain moto server (moto refuses the REST API
document chalice sends), and moto leaves every execution RUNNING. The sandbox is
the demo's AtomicMotoServer on a fixed loopback port, empty at start, where
chalice deploys, and where StartExecution runs the state machine's definition
with the local runner under the execution's own ARN. Each Lambda task runs
in-process on the Chalice app deployed under the function's name, with the
environment it was deployed with, pointed back at the sandbox. Workflow time
runs ``time_scale`` times faster (Waits, retry intervals, timeouts), so that
`make run` ends in seconds. A state machine whose tasks are not functions of
platform.toml's apps is not run: its executions stay RUNNING, as moto leaves
them, and the sandbox says so.
"""

from __future__ import annotations

import datetime
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType

from rich.console import Console

from lease_ops.config.platform_config import PlatformConfig
from lease_ops.errors import PortInUse
from lease_ops.local_runner import (
    ChaliceFunctions,
    DeployedChaliceLambdas,
    HistoryEvent,
    LocalRunner,
    ScaledTimer,
    StartedExecution,
    UnsupportedDefinition,
    check_definition,
    execution_arn,
    starting_locally,
    write_back_to_moto,
)
from lease_ops.sandbox.embedded_aws import FAKE_CREDENTIALS, embedded_aws
from lease_ops.sandbox.embedded_platform import quiet_lambda_telemetry

DEFAULT_PORT = 5005  # moto's own 5000 is macOS's AirPlay receiver; LocalStack has 4566
DEFAULT_TIME_SCALE = 10.0
ENDS = {"ExecutionSucceeded": "SUCCEEDED", "ExecutionFailed": "FAILED", "ExecutionAborted": "ABORTED"}


class SandboxStarts:
    """What StartExecution on the sandbox does with each new execution: run it locally, or say why not."""

    def __init__(self, lambdas: DeployedChaliceLambdas, time_scale: float, console: Console) -> None:
        self.lambdas = lambdas
        self.console = console
        self.runner = LocalRunner(lambdas, timer=ScaledTimer(time_scale), listener=self.on_event)
        self.running: set[str] = set()
        self._lock = threading.Lock()

    def _log(self, text: str) -> None:
        self.console.print(f"{datetime.datetime.now():%H:%M:%S} {text}", markup=False, highlight=False)

    @staticmethod
    def _label(arn: str) -> str:
        return arn.split(":execution:", 1)[-1]  # <state machine>:<execution name>

    def _why_not_local(self, started: StartedExecution) -> str | None:
        try:
            check_definition(started.definition)
        except UnsupportedDefinition as exc:
            return str(exc)
        foreign = self.lambdas.foreign_tasks(started.definition)
        if foreign:
            return "; ".join(foreign) + ", not a function of the Chalice apps of platform.toml"
        if execution_arn(started.state_machine_arn, started.name) != started.execution_arn:
            return f"its ARN is not that of an execution of {started.state_machine_arn}"
        return None

    def __call__(self, started: StartedExecution) -> None:
        reason = self._why_not_local(started)
        if reason is not None:
            self._log(f"{self._label(started.execution_arn)}: not run, RUNNING for ever as moto leaves it: {reason}")
            return
        with self._lock:
            self.running.add(started.execution_arn)
        self.runner.start(started.state_machine_arn, started.definition, started.input, name=started.name)
        self._log(f"started   {self._label(started.execution_arn)}")

    def on_event(self, event: HistoryEvent) -> None:
        """Keep moto's record in step, and log each execution's end."""
        write_back_to_moto(event)
        if event.type == "ExecutionRedriven":
            with self._lock:
                self.running.add(event.execution_arn)
            self._log(f"redriven  {self._label(event.execution_arn)}")
        elif event.type in ENDS:
            with self._lock:
                self.running.discard(event.execution_arn)
            error = event.details.get("error")
            self._log(
                f"{ENDS[event.type].lower():<9} {self._label(event.execution_arn)}{f' ({error})' if error else ''}"
            )


@contextmanager
def sandbox(
    config: PlatformConfig, console: Console, *, port: int | None = DEFAULT_PORT, time_scale: float = DEFAULT_TIME_SCALE
) -> Iterator[tuple[str, SandboxStarts]]:
    """Start the sandbox (``port`` None: a free one) and point this process at it; yields its endpoint and starter.

    Its state is empty at start and gone at the end. Raises ``PortInUse`` if the port is taken.
    """
    functions = ChaliceFunctions(config.app_dir(app) for app in config.app_folders)
    with ExitStack() as stack:
        try:
            endpoint = stack.enter_context(embedded_aws(config.region, port))
        except PortInUse as exc:
            raise PortInUse(
                f"{exc} (a sandbox already running?): stop what listens there, or choose another port: "
                f"make sandbox PORT=<port> (python -m lease_ops sandbox --port <port>)"
            ) from None
        stack.enter_context(quiet_lambda_telemetry())
        starts = SandboxStarts(DeployedChaliceLambdas(functions, endpoint, region=config.region), time_scale, console)
        stack.enter_context(starting_locally(starts))
        yield endpoint, starts


def _print_instructions(console: Console, endpoint: str, time_scale: float) -> None:
    exports = {"AWS_ENDPOINT_URL": endpoint, **FAKE_CREDENTIALS}
    say = console.print
    say(f"sandbox: an empty embedded AWS (moto) on {endpoint}; executions run here, time {time_scale:g}x faster")
    say("Export these where you run make (any credentials do; fake ones keep a forgotten endpoint off real AWS):")
    for name, value in exports.items():
        say(f"{name}={value}", markup=False, highlight=False)
    say("In another terminal, in this folder:")
    say(f"  export {' '.join(f'{name}={value}' for name, value in exports.items())}", markup=False, highlight=False)
    say("  make bootstrap && make deploy && make workflows && make run && make destroy", markup=False)
    say("Ctrl-C stops the sandbox; everything in it goes with it.")
    console.file.flush()


def serve_sandbox(
    config: PlatformConfig, console: Console, *, port: int | None = None, time_scale: float | None = None
) -> None:
    """`make sandbox`: serve until Ctrl-C or SIGTERM, then stop cleanly (None: the default port, time scale)."""
    port = port or DEFAULT_PORT
    time_scale = time_scale or DEFAULT_TIME_SCALE
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sent: signal.signal(sent, request_stop) for sent in (signal.SIGINT, signal.SIGTERM)}
    try:
        with sandbox(config, console, port=port, time_scale=time_scale) as (endpoint, starts):
            _print_instructions(console, endpoint, time_scale)
            while not stop.wait(1.0):
                pass
            running = len(starts.running)
            console.print(
                "stopping the sandbox" + (f"; {running} execution(s) still running end with it" if running else "")
            )
    finally:
        for sent, handler in previous.items():
            signal.signal(sent, handler)
    console.print("sandbox stopped")
