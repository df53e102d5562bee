"""Handoff mode's count of queued executions on the semaphore item (``waiting``), in either item layout.

Both layouts keep the count on the semaphore item, so taking a waiter out of the queue and resetting a
count left over above an empty queue are the same writes whichever layout holds the leases.
"""

from __future__ import annotations

from typing import Any

from lease_core.errors import LeaseStoreUnavailable
from lease_core.item_layout import semaphore_key
from lease_core.outcomes import LeaseSnapshot
from lease_core.queue_items import QueueItems, Waiter
from lease_core.races import MAX_ROUNDS, pause
from lease_core.store import CONDITION_FAILED, ConditionFailed, DynamoTable, TransactionCancelled


class WaiterCount:
    def __init__(self, table: DynamoTable, prefix: str, queue: QueueItems) -> None:
        self.table = table
        self.prefix = prefix
        self.queue = queue
        self._key = semaphore_key(prefix)

    def remove(self, waiter: Waiter, *, counted: bool = True) -> bool:
        """Take a waiter out of the queue (its execution ended, or it got a slot by itself).

        ``counted``: the ``waiting`` count includes it and goes down in the same transaction. False if
        it was no longer there (someone else took it out, or handed it a slot).
        """
        if not counted:
            return self.queue.delete_place(waiter)
        for attempt in range(MAX_ROUNDS):
            try:
                self.table.call(
                    "transact_write_items",
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": self.table.name,
                                "Key": self._key,
                                "UpdateExpression": "ADD #waiting :minus_one",
                                "ConditionExpression": "attribute_exists(#cap)",
                                "ExpressionAttributeNames": {"#waiting": "waiting", "#cap": "cap"},
                                "ExpressionAttributeValues": {":minus_one": {"N": "-1"}},
                            }
                        },
                        self.queue.delete_action(waiter),
                    ],
                )
            except TransactionCancelled as cancelled:
                if CONDITION_FAILED in cancelled.reasons:
                    self.queue.forget_index(waiter)
                    return False
                pause(attempt)  # a conflicting transaction on the semaphore: try again
                continue
            self.queue.forget_index(waiter)
            return True
        raise LeaseStoreUnavailable(f"could not take a waiter out of the queue of prefix {self.prefix!r}; try again")

    def forget_phantoms(self, seen: LeaseSnapshot) -> None:
        """The count says someone waits but the queue was found empty (an item deleted by hand or by TTL): reset it.

        ``seen`` must have been read before the queue was found empty. The reset is conditional on
        both the count and the number of queueings ever counted being as seen then, so it cannot erase
        an execution that queued (or a count that changed) in between.
        """
        if seen.waiting <= 0:
            return
        values: dict[str, Any] = {":zero": {"N": "0"}, ":counted": {"N": str(seen.waiting)}}
        if seen.enqueued:
            values[":enqueued"] = {"N": str(seen.enqueued)}
        try:
            self.table.call(
                "update_item",
                Key=self._key,
                UpdateExpression="SET #waiting = :zero",
                ConditionExpression="#waiting = :counted AND "
                + ("#enqueued = :enqueued" if seen.enqueued else "attribute_not_exists(#enqueued)"),
                ExpressionAttributeNames={"#waiting": "waiting", "#enqueued": "enqueued"},
                ExpressionAttributeValues=values,
            )
        except ConditionFailed:
            return  # the queue changed meanwhile: whoever changed it sees to it
