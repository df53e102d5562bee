"""Every call the burst benchmark makes into the lease core (``shared/lease_core``), in one place.

Nothing else in ``benchmarks/burst`` imports ``lease_core`` or knows how the core lays out its items.
What it calls, unmodified:

- ``acquire``: ``lease_core.lease_operations.acquire(semaphore, holder, wait_mode=..., task_token=...,
  waiting_since=..., stepfunctions=...)``, the acquire Lambda's own orchestration (poll: one admission
  attempt, a re-poll reading first; handoff: take a free slot and tell its own task, or queue and then
  fill free slots, telling whoever gets one).
- ``release``: ``lease_core.lease_operations.release`` (free the slot, or hand it to the oldest waiter
  and tell it).
- ``check_process``: ``LeaseSemaphore.check_held(holder, for_seconds=...)``, the Process guard.
- ``set_up``: ``LeaseSemaphore.set_cap`` and ``configure_timings`` (what ``make caps`` writes), and
  ``lease_ops.aws.table.create_lease_table`` (what ``make bootstrap`` creates).
- ``holders_in_table``: the holders the table stores (not billed, no simulated time): the observer's cap
  check. The narrow layout's are the semaphore item's map (``LeaseSemaphore.occupancy``, read with a client
  the DynamoDB model does not see); the wide layout's are its holder items (``item_layout.holders_partition``),
  counted where moto stores them, never taken from the count the core keeps, which is what the check checks.
  Listing them (``inspect``) after every write of a cap-500 prefix took three quarters of a mix run's CPU, and
  a ``Select=COUNT`` Query still 6 ms (moto walks each item).
- ``lambda_client_config``: ``lease_core.aws_clients.CLIENT_CONFIG``, the botocore settings (timeouts,
  standard retry mode and its attempts) the core's Lambdas create their DynamoDB client with.
- ``pausing_modules``: the core's modules that pause with ``time.sleep`` (found, not listed), so the
  simulation can make their pauses simulated time.
- ``seeded_secrets``: the core's draws from ``secrets`` (a hand-over's grant), drawn from the run's seed
  instead, so that a run repeats exactly: a grant's digits change a holder item's size, and now and then
  its billed write units.

The Chalice wrapper (event validation, one log line and one metric) is not run.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from botocore.config import Config

import lease_core
from lease_core import lease_operations
from lease_core.aws_clients import CLIENT_CONFIG
from lease_core.item_layout import holders_partition
from lease_core.semaphore import LeaseSemaphore
from lease_ops.aws.table import create_lease_table


def lambda_client_config() -> Config:
    return CLIENT_CONFIG


def pausing_modules() -> list[ModuleType]:
    """The ``lease_core`` modules that imported the ``time`` module (the ones whose pauses and clock readings must
    be simulated), every module of the package imported first (the core imports some lazily). A module that did
    ``from time import sleep`` would escape this: there is none today."""
    return [module for module in _core_modules() if getattr(module, "time", None) is time]


def _core_modules() -> list[ModuleType]:
    """Every module of ``lease_core``, each imported first (the core imports some lazily)."""
    for info in pkgutil.iter_modules(lease_core.__path__):
        importlib.import_module(f"{lease_core.__name__}.{info.name}")
    return [
        module
        for name, module in sorted(sys.modules.items())
        if module is not None and (name == lease_core.__name__ or name.startswith(lease_core.__name__ + "."))
    ]


class _SeededSecrets:
    """The part of ``secrets`` the core uses, drawn from a seeded generator (a new use fails loudly)."""

    def __init__(self, rng: random.Random) -> None:
        self.randbelow = rng.randrange


@contextmanager
def seeded_secrets(rng: random.Random) -> Iterator[None]:
    """While it lasts, the core's modules that imported ``secrets`` draw from ``rng``."""
    drawing = [module for module in _core_modules() if getattr(module, "secrets", None) is secrets]
    for module in drawing:
        module.secrets = _SeededSecrets(rng)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in drawing:
            module.secrets = secrets  # type: ignore[attr-defined]


class LeaseCoreCalls:
    """One prefix of this project's core on ``table``, in ``wait_mode`` (``poll`` or ``handoff``)."""

    def __init__(
        self, table: str, prefix: str, cap: int, ttl_seconds: int, wait_mode: str, clock: Callable[[], float]
    ) -> None:
        self.table = table
        self.prefix = prefix
        self.cap = cap
        self.ttl_seconds = ttl_seconds
        self.wait_mode = wait_mode
        self.clock = clock

    @staticmethod
    def create_table(client: Any, table: str) -> None:
        create_lease_table(client, table)

    def _semaphore(self, client: Any) -> LeaseSemaphore:
        return LeaseSemaphore(
            client, self.table, self.prefix, ttl_seconds=self.ttl_seconds, initial_cap=self.cap, clock=self.clock
        )

    def set_up(self, client: Any, *, task_seconds: int) -> None:
        """What a deploy writes: the cap (``make caps``) and the timings."""
        semaphore = self._semaphore(client)
        semaphore.set_cap(self.cap)
        semaphore.configure_timings(task_seconds=task_seconds, lease_seconds=self.ttl_seconds)

    def acquire(
        self,
        client: Any,
        stepfunctions: Any,
        holder: str,
        *,
        task_token: str | None = None,
        waiting_since: float | None = None,
    ) -> dict[str, Any]:
        """The acquire Lambda's answer (poll: ``acquired``/``wait``; handoff: ``acquired``/``queued``)."""
        outcome = lease_operations.acquire(
            self._semaphore(client),
            holder,
            wait_mode=self.wait_mode,
            task_token=task_token,
            waiting_since=waiting_since,
            stepfunctions=stepfunctions,
        )
        return outcome.as_event()

    def release(self, client: Any, stepfunctions: Any, holder: str) -> dict[str, Any]:
        """The release Lambda's answer (``released``, or ``not_held``); hands the slot over in handoff mode."""
        return lease_operations.release(self._semaphore(client), holder, stepfunctions=stepfunctions).as_event()

    def check_process(self, client: Any, holder: str, for_seconds: float) -> None:
        """Process's guard: raises ``LeaseLost`` unless ``holder`` holds a lease live ``for_seconds`` more."""
        self._semaphore(client).check_held(holder, for_seconds=for_seconds)

    def holders_in_table(self, unmodelled_client: Any, items_in_partition: Callable[[str, str], int]) -> int:
        """Holders of the prefix as the table stores them (expired ones included: they still take a slot);
        ``items_in_partition(table, partition key)`` counts the items stored under a partition key."""
        seen = self._semaphore(unmodelled_client).occupancy()
        if seen.count is None:  # narrow layout: the semaphore item lists them
            return len(seen.holders)
        return items_in_partition(self.table, holders_partition(self.prefix))  # every item there is a holder's
