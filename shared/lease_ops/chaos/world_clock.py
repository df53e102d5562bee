"""Run the emulated world on the chaos scenario's clock: the lease core's clock, the SDK's retry backoff and
the SDK's timeouts.

The core takes its clock as a parameter (``LeaseSemaphore(..., clock=time.time)``,
``LeaseTable(..., clock=...)``), and the Lambda handlers build it with the
default. In a scenario every Lambda runs in this process, on the scenario's
``VirtualClock``; so for the scenario's duration the default becomes that
clock's epoch seconds. Then every judgement the core makes by time (a lease's
expiry, an aborted execution's lease kept until its stop date plus
``task_seconds``, the order of waiters) is made on the same clock as the
executions' tasks, their deadlines and the ProcessGuard's checks: one world,
one time, whatever the machine's speed.

botocore sleeps between the attempts of a request it retries (a throttle, a
server error, a timeout). On AWS that backoff is time the Lambda spends, so here
it is slept on the scenario's clock too: it counts as workflow time (as it
would), and costs no wall-clock time (a thread sleeping on the clock lets time
move on).

The SDK's socket timeouts are on the wall clock, where they would measure how
long a request queues in the serialised emulator of a busy machine, not how
DynamoDB answers: a timeout there would turn load into faults (and its retries
into more load). So the emulated world's clients wait for the emulator as long
as it takes (``EMULATOR_TIMEOUTS``); DynamoDB's timeouts are what the
``dynamodb-timeouts`` scenario injects, on the same code path
(``ReadTimeoutError``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.endpoint
from botocore.config import Config

from lease_core import aws_clients
from lease_core.lease_table import LeaseTable
from lease_core.semaphore import LeaseSemaphore
from lease_ops.local_runner.timing import VirtualClock

CLOCKED = (LeaseSemaphore, LeaseTable)  # the core's classes whose constructors take ``clock``
# Long enough for any queue in front of the emulator; a world that is stuck is caught by its clock instead.
EMULATOR_TIMEOUTS = Config(connect_timeout=300, read_timeout=900)


def emulator_client(service: str, region: str, endpoint: str) -> Any:
    """A client of the embedded emulator for the scenario's own use (its monitors, its control plane)."""
    config = Config(retries={"mode": "standard", "max_attempts": 5}).merge(EMULATOR_TIMEOUTS)
    return boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint, config=config)


@contextmanager
def lambda_clients_wait_for_the_emulator() -> Iterator[None]:
    """While open, the clients the Lambdas create (``client_for``) keep their retries but wait for any answer."""
    saved = aws_clients.CLIENT_CONFIG
    aws_clients.CLIENT_CONFIG = saved.merge(EMULATOR_TIMEOUTS)
    try:
        yield
    finally:
        aws_clients.CLIENT_CONFIG = saved


@contextmanager
def lease_core_clock(clock: Callable[[], float]) -> Iterator[None]:
    """While open, the core's clock is ``clock`` (epoch seconds) wherever no clock is passed."""
    saved = []
    for cls in CLOCKED:
        defaults = cls.__init__.__kwdefaults__
        if not defaults or "clock" not in defaults:
            raise TypeError(f"{cls.__name__}() no longer takes a keyword-only clock: the chaos suite cannot set it")
        saved.append((defaults, defaults["clock"]))
        defaults["clock"] = clock
    try:
        yield
    finally:
        for defaults, original in saved:
            defaults["clock"] = original


class _TimeWithSleepOn:
    """The ``time`` module as botocore's endpoint sees it, but ``sleep`` is on a clock."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    def sleep(self, seconds: float) -> None:
        self._clock.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextmanager
def sdk_backoff_on(clock: VirtualClock) -> Iterator[None]:
    """While open, botocore's backoff between retried attempts is slept on ``clock``."""
    if getattr(botocore.endpoint, "time", None) is not time:
        raise TypeError("botocore.endpoint no longer sleeps through the time module: the chaos suite cannot clock it")
    botocore.endpoint.time = _TimeWithSleepOn(clock)  # type: ignore[assignment]
    try:
        yield
    finally:
        botocore.endpoint.time = time


@contextmanager
def world_on(clock: VirtualClock) -> Iterator[None]:
    """The lease core and the SDK's retries on ``clock``, and no wall-clock timeouts, for a scenario's duration."""
    with lease_core_clock(clock.time), sdk_backoff_on(clock), lambda_clients_wait_for_the_emulator():
        yield
