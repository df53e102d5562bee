"""Every prefix of the shared table at once: what the platform app lists, reclaims and sweeps.

Each prefix's state is its one semaphore item, so the whole table's leases are
a Scan for ``sk = "semaphore"`` (one small item per workload), plus, for a prefix in
the wide layout (``wide_layout``), a Query of its holder items. Removing a
holder always goes through the prefix's ``LeaseSemaphore``, with the same
conditional writes as everywhere else.

A Scan reads (and is billed for) every item of the table, the queue's and the wide layout's holder
items included, whatever its filter keeps: ``prefixes`` is for a caller that then reads each prefix
itself, and wants to Scan seldom (``lease_ops.observability.watch_source``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lease_core.item_layout import SEMAPHORE_SORT_KEY, is_narrow, is_wide
from lease_core.semaphore import LeaseSemaphore, LeaseSnapshot, snapshot_from_item
from lease_core.store import DynamoTable, plain_item
from lease_core.validation import validate_table_name


@dataclass(frozen=True)
class ReleasedHolder:
    prefix: str
    holder: str


class LeaseTable:
    def __init__(self, client: Any, table_name: str, *, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.table = DynamoTable(client, validate_table_name(table_name))
        self.clock = clock

    def semaphore(self, prefix: str, *, ttl_seconds: int = 600) -> LeaseSemaphore:
        return LeaseSemaphore(self.client, self.table.name, prefix, ttl_seconds=ttl_seconds, clock=self.clock)

    def snapshots(self) -> list[LeaseSnapshot]:
        """Every prefix's cap and holders, sorted by prefix (a strongly consistent Scan)."""
        snapshots = []
        for item in self._semaphore_items(consistent=True):
            prefix = _prefix_of(item)
            if is_narrow(item):
                snapshots.append(snapshot_from_item(prefix, item))
            elif is_wide(item):  # its holders are items of their own: one Query
                snapshots.append(self.semaphore(prefix).wide.snapshot(item, with_holders=True))
        return sorted(snapshots, key=lambda snapshot: snapshot.prefix)

    def prefixes(self) -> list[str]:
        """The prefix of every semaphore item in the table, sorted, however it is laid out (an eventually
        consistent Scan: half a read unit per 4 KB scanned; a prefix created a moment ago may be missing)."""
        return sorted({_prefix_of(item) for item in self._semaphore_items(consistent=False, only_key=True)})

    def _semaphore_items(self, *, consistent: bool, only_key: bool = False) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "FilterExpression": "#sk = :semaphore",
            "ExpressionAttributeNames": {"#sk": "sk"},
            "ExpressionAttributeValues": {":semaphore": {"S": SEMAPHORE_SORT_KEY}},
            "ConsistentRead": consistent,
        }
        if only_key:  # less to send back; DynamoDB bills the items scanned all the same
            request["ProjectionExpression"] = "pk"
        while True:
            page = self.table.call("scan", **request)
            for raw in page.get("Items", []):
                item = plain_item(raw)
                if item is not None:
                    yield item
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _prefix_of(semaphore_item: dict[str, Any]) -> str:
    """``<prefix>#semaphore`` (``item_layout.semaphore_key``) → ``<prefix>``."""
    return str(semaphore_item["pk"]).split("#", 1)[0]
