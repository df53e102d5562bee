"""Every prefix of the shared table at once: what the platform app lists, reclaims and sweeps.

Each prefix's state is its one semaphore item, so the whole table's leases are
a Scan for ``sk = "semaphore"`` (one small item per workload), plus, for a prefix in
the wide layout (``wide_layout``), a Query of its holder items. Removing a
holder always goes through the prefix's ``LeaseSemaphore``, with the same
conditional writes as everywhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
        request: dict[str, Any] = {
            "FilterExpression": "#sk = :semaphore",
            "ExpressionAttributeNames": {"#sk": "sk"},
            "ExpressionAttributeValues": {":semaphore": {"S": SEMAPHORE_SORT_KEY}},
            "ConsistentRead": True,
        }
        while True:
            page = self.table.call("scan", **request)
            for raw in page.get("Items", []):
                item = plain_item(raw)
                if item is None:
                    continue
                prefix = str(item["pk"]).split("#", 1)[0]
                if is_narrow(item):
                    snapshots.append(snapshot_from_item(prefix, item))
                elif is_wide(item):  # its holders are items of their own: one Query
                    snapshots.append(self.semaphore(prefix).wide.snapshot(item, with_holders=True))
            if "LastEvaluatedKey" not in page:
                return sorted(snapshots, key=lambda snapshot: snapshot.prefix)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
