"""The three designs behind one small interface, each on its own table of the same moto server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from benchmarks.baselines.count_then_put import CountThenPut
from benchmarks.baselines.counter_owner import CounterOwner
from lease_core import Acquired, LeaseSemaphore
from lease_ops.aws.table import create_lease_table


class Design(Protocol):
    name: str
    wait_seconds: float
    table: str

    def acquire(self, holder: str) -> bool: ...

    def release(self, holder: str) -> None: ...

    def set_cap(self, cap: int) -> None: ...


class LeaseCore:
    """This project: the one-item semaphore with a conditional admission."""

    name = "lease-core"
    wait_seconds = 5.0  # analytics' WaitForLease

    def __init__(self, client: Any, table: str, prefix: str, cap: int) -> None:
        self.table = table
        self.semaphore = LeaseSemaphore(client, table, prefix, ttl_seconds=600, initial_cap=cap)

    @staticmethod
    def create_table(client: Any, table: str) -> None:
        create_lease_table(client, table)

    def set_cap(self, cap: int) -> None:
        self.semaphore.set_cap(cap)

    def acquire(self, holder: str) -> bool:
        return isinstance(self.semaphore.acquire(holder), Acquired)

    def release(self, holder: str) -> None:
        self.semaphore.release(holder)


DESIGN_NAMES = ("lease-core", "count-then-put", "counter-and-owner")
BASELINES = ("count-then-put", "counter-and-owner")
# Whole workflows also compare this core's two wait modes: polling (the default) and FIFO handoff.
WORKFLOW_DESIGN_NAMES = ("lease-core", "lease-core-handoff", "count-then-put", "counter-and-owner")


_KINDS: dict[str, Any] = {
    "lease-core": LeaseCore,
    "lease-core-handoff": LeaseCore,
    "count-then-put": CountThenPut,
    "counter-and-owner": CounterOwner,
}


def create_design_table(name: str, client: Any, table: str) -> None:
    _KINDS[name].create_table(client, table)


def open_design(
    name: str, client: Any, table: str, prefix: str, cap: int, sleep: Callable[[float], None] = time.sleep
) -> Design:
    """The design on an existing table, through ``client``."""
    if name == "counter-and-owner":
        return CounterOwner(client, table, prefix, cap, sleep=sleep)
    return _KINDS[name](client, table, prefix, cap)
