"""Reading the lease table for `make watch`, as cheaply as the view allows, through the core's read API.

What one refresh costs (DynamoDB read units, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):

- per prefix, ``LeaseSemaphore.inspect()``: one strongly consistent GetItem of its semaphore item (1 RCU:
  the item stays within 4 KB up to the wide layout's threshold, ``item_layout``); for a prefix in the
  wide layout, plus one strongly consistent Query of its holder items (about 60 bytes each: 1 RCU per
  ~65 holders). The queue is not read: its length is the ``waiting`` count on the semaphore item.
- every ``rescan_seconds`` (default 60), and at the first refresh, one eventually consistent Scan for
  the semaphore items, to find every prefix the table holds (``LeaseTable.prefixes``), not only
  platform.toml's. DynamoDB has no way to list partition keys without reading the table, so this Scan
  is billed for every item it passes (0.5 RCU per 4 KB), queued waiters (about 1 KB each, with their
  task token) and holder items included; that is why it runs seldom. A prefix created in between
  appears at the next Scan.

At a refresh every 2 s with two workloads in the narrow layout that is 1 RCU/s, plus one Scan a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lease_core import LeaseError, LeaseSemaphore, UnknownPrefix
from lease_core.lease_table import LeaseTable
from lease_ops.aws.table import describe_table
from lease_ops.errors import TableNotFound
from lease_ops.observability.watch import TableRead

DEFAULT_RESCAN_SECONDS = 60.0


def require_table(dynamodb: Any, table: str, region: str) -> None:
    """``TableNotFound`` (one line) unless the table exists: the watch has nothing to show without it."""
    if describe_table(dynamodb, table) is None:
        raise TableNotFound(
            f"table {table!r} does not exist in {region}: `make bootstrap` creates it (or pass TABLE=/REGION=)"
        )


class TableReader:
    """Reads every prefix of the table, finding prefixes by a Scan only every ``rescan_seconds``."""

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        rescan_seconds: float = DEFAULT_RESCAN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.rescan_seconds = rescan_seconds
        self.clock = clock
        self._lease_table = LeaseTable(dynamodb, table, clock=clock)
        self._semaphores: dict[str, LeaseSemaphore] = {}
        self._prefixes: list[str] = []
        self._scanned_at: float | None = None

    def read(self) -> TableRead:
        """Each prefix's snapshot, or why it could not be read; ``LeaseStoreUnavailable`` if the Scan failed."""
        at = self.clock()
        if self._scanned_at is None or at - self._scanned_at >= self.rescan_seconds:
            self._prefixes = self._lease_table.prefixes()
            self._scanned_at = at
        snapshots, problems = {}, {}
        for prefix in self._prefixes:
            try:
                snapshots[prefix] = self._semaphore(prefix).inspect()
            except UnknownPrefix:
                continue  # its semaphore item is gone since the Scan
            except LeaseError as exc:  # unreadable, or not a valid prefix: shown on its row
                problems[prefix] = str(exc)
        return TableRead(at=at, snapshots=snapshots, problems=problems)

    def _semaphore(self, prefix: str) -> LeaseSemaphore:
        if prefix not in self._semaphores:
            self._semaphores[prefix] = LeaseSemaphore(self.dynamodb, self.table, prefix, clock=self.clock)
        return self._semaphores[prefix]
