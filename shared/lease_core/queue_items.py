"""The queue's own items (handoff mode), read and written a few at a time: never a read of the whole queue.

A waiter is two items (see ``item_layout``): its place, in the waiters partition sorted by arrival
(holder, task token), and an index item keyed by its holder key (where its place is, and whether the
semaphore's ``waiting`` count includes it yet). Finding one's own place is a GetItem of the index, the
head of the queue is a Query of one item, and the heads that a wide prefix's free slots go to one Query and
one BatchGetItem of as many items as slots are served: none costs more with 100,000 queued than with 10.

This module knows nothing of the semaphore item; ``LeaseSemaphore`` and ``WaitingRoom`` combine both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lease_core.item_layout import holder_key, index_partition, waiter_sort_key, waiters_partition
from lease_core.store import ConditionFailed, DynamoTable, plain_item

# A queued execution re-checks at least daily (recheck_seconds is at most 86,400): one that has not for
# longer is gone, and DynamoDB's TTL may drop its items (a count left too high is reset when the queue empties).
RECHECKS_WITHIN_SECONDS = 86_400
ABANDONED_WAITER_SECONDS = RECHECKS_WITHIN_SECONDS + 3_600


@dataclass(frozen=True)
class Waiter:
    holder: str
    token: str
    sort_key: str

    @property
    def key(self) -> str:
        return self.sort_key.split("#", 1)[1] if "#" in self.sort_key else holder_key(self.holder)

    @property
    def enqueued_at(self) -> float:
        """When it queued (epoch seconds), from its sort key."""
        return int(self.sort_key.split("#", 1)[0]) / 1000


@dataclass(frozen=True)
class Place:
    """What a holder's index item says: where it waits, and whether the ``waiting`` count includes it."""

    sort_key: str
    counted: bool
    expires_at: int | None = None  # the index item's TTL


def _place(index_item: dict[str, Any]) -> Place:
    ttl = index_item.get("ttl")
    return Place(
        sort_key=str(index_item["at"]),
        counted=bool(index_item.get("counted", False)),
        expires_at=None if ttl is None else int(ttl),
    )


def _waiter(item: dict[str, Any]) -> Waiter:
    return Waiter(holder=str(item["holder"]), token=str(item["token"]), sort_key=str(item["sk"]))


class QueueItems:
    def __init__(self, table: DynamoTable, prefix: str, clock: Callable[[], float]) -> None:
        self.table = table
        self.waiters_pk = waiters_partition(prefix)
        self.index_pk = index_partition(prefix)
        self._clock = clock

    def waiter_key(self, sort_key: str) -> dict[str, Any]:
        return {"pk": {"S": self.waiters_pk}, "sk": {"S": sort_key}}

    def index_key(self, key: str) -> dict[str, Any]:
        return {"pk": {"S": self.index_pk}, "sk": {"S": key}}

    def _ttl(self) -> dict[str, str]:
        """When DynamoDB may delete items nobody served: a live waiter re-checks (and refreshes them) well before."""
        return {"N": str(int(self._clock()) + ABANDONED_WAITER_SECONDS)}

    # -- reading -----------------------------------------------------------------------------------

    def head(self) -> Waiter | None:
        """The oldest waiter: a strongly consistent Query that reads one item."""
        oldest = self.heads(1)
        return oldest[0] if oldest else None

    def heads(self, limit: int) -> list[Waiter]:
        """The ``limit`` oldest waiters, oldest first: a strongly consistent Query that reads that many items."""
        page = self.table.call(
            "query",
            KeyConditionExpression="pk = :partition",
            ExpressionAttributeValues={":partition": {"S": self.waiters_pk}},
            ConsistentRead=True,
            ScanIndexForward=True,
            Limit=limit,
        )
        return [_waiter(plain_item(item) or {}) for item in page.get("Items", [])]

    def place(self, key: str) -> Place | None:
        """Where the holder with this key waits, from its index item (a GetItem)."""
        item = plain_item(self.table.call("get_item", Key=self.index_key(key), ConsistentRead=True).get("Item"))
        return _place(item) if item else None

    def counts(self, waiter: Waiter) -> bool:
        """Whether the ``waiting`` count includes this place, as its index item says (a GetItem).

        A place is written before it is counted, so the head of the queue may be a place whose queueing
        has not counted it yet: serving it must then take nothing off the count (that would be another
        waiter's). A count that lands after this read is at worst left over, and reset once the queue
        is found empty (``LeaseSemaphore.forget_phantom_waiters``); a missing index counts as not counted
        for the same reason: a count too high is safe, one too low strands a waiter.
        """
        return _counts(self.place(waiter.key), waiter)

    def counted(self, waiters: list[Waiter]) -> list[bool]:
        """``counts`` for several places in one request: a strongly consistent BatchGetItem of their index items.

        Keys DynamoDB leaves unprocessed (throttled) are asked again a few times; any still unanswered
        count as not counted, the side ``counts`` errs on (a count left too high is reset, one too low is not).
        """
        items = self.table.get_many([self.index_key(waiter.key) for waiter in waiters])
        found = {str(item["sk"]): _place(item) for item in items}
        return [_counts(found.get(waiter.key), waiter) for waiter in waiters]

    def waiter_at(self, sort_key: str) -> Waiter | None:
        item = plain_item(self.table.call("get_item", Key=self.waiter_key(sort_key), ConsistentRead=True).get("Item"))
        return _waiter(item) if item else None

    def places_of(self, key_prefix: str) -> list[Place]:
        """The places of the holder keys that start with ``key_prefix`` (one run's places: cleanup), from the
        index items the Query reads."""
        found: list[Place] = []
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :partition AND begins_with(sk, :start)",
            "ExpressionAttributeValues": {":partition": {"S": self.index_pk}, ":start": {"S": key_prefix}},
            "ConsistentRead": True,
        }
        while True:
            page = self.table.call("query", **request)
            found += [_place(plain_item(item) or {}) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def all_waiters(self) -> list[Waiter]:
        """The whole queue, oldest first: for operators and tests, never on a lease operation's path."""
        found: list[Waiter] = []
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :partition",
            "ExpressionAttributeValues": {":partition": {"S": self.waiters_pk}},
            "ConsistentRead": True,
        }
        while True:
            page = self.table.call("query", **request)
            found += [_waiter(plain_item(item) or {}) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- writing -----------------------------------------------------------------------------------

    def put(self, holder: str, token: str, enqueued_ms: int) -> Waiter:
        """Write a new place: the index first, so that a place never exists that its holder cannot find."""
        key = holder_key(holder)
        waiter = Waiter(holder, token, waiter_sort_key(enqueued_ms, key))
        self.table.call(
            "put_item",
            Item={**self.index_key(key), "at": {"S": waiter.sort_key}, "counted": {"BOOL": False}, "ttl": self._ttl()},
        )
        self.table.call(
            "put_item",
            Item={
                **self.waiter_key(waiter.sort_key),
                "holder": {"S": holder},
                "token": {"S": token},
                "ttl": self._ttl(),
            },
        )
        return waiter

    def refresh(self, holder: str, token: str, place: Place) -> Waiter | None:
        """Give a queued holder's place its new task token; None if the place is gone (served or removed)."""
        try:
            self.table.call(
                "update_item",
                Key=self.waiter_key(place.sort_key),
                UpdateExpression="SET #token = :token, #ttl = :ttl",
                ConditionExpression="attribute_exists(pk) AND #holder = :holder",
                ExpressionAttributeNames={"#token": "token", "#ttl": "ttl", "#holder": "holder"},
                ExpressionAttributeValues={":token": {"S": token}, ":ttl": self._ttl(), ":holder": {"S": holder}},
            )
        except ConditionFailed:
            return None
        return Waiter(holder, token, place.sort_key)

    def mark_counted(self, waiter: Waiter) -> None:
        """Note that the ``waiting`` count includes this place: a retried queueing must not count it twice."""
        try:
            self.table.call(
                "update_item",
                Key=self.index_key(waiter.key),
                UpdateExpression="SET #counted = :yes, #ttl = :ttl",
                ConditionExpression="#at = :at",
                ExpressionAttributeNames={"#counted": "counted", "#ttl": "ttl", "#at": "at"},
                ExpressionAttributeValues={":yes": {"BOOL": True}, ":ttl": self._ttl(), ":at": {"S": waiter.sort_key}},
            )
        except ConditionFailed:
            return  # served or removed meanwhile: nothing left to mark

    def delete_place(self, waiter: Waiter) -> bool:
        """Delete a waiter's place that the count does not include (never counted, or already counted off)."""
        try:
            self.table.call(
                "delete_item", Key=self.waiter_key(waiter.sort_key), ConditionExpression="attribute_exists(pk)"
            )
        except ConditionFailed:
            self.forget_index(waiter)
            return False
        self.forget_index(waiter)
        return True

    def keep_index(self, waiter: Waiter, place: Place) -> None:
        """On a re-check of a counted waiter: refresh its index item's TTL if it could lapse before the next
        re-check (at most a day away), so that DynamoDB never drops the index of a waiter whose place lives on
        (its next re-check would queue it again, at the back, counted twice). At most once an hour, not at
        every re-check."""
        if place.expires_at is None or place.expires_at < int(self._clock()) + RECHECKS_WITHIN_SECONDS:
            self.mark_counted(waiter)

    def forget_index(self, waiter: Waiter) -> None:
        """Delete the index item if it still points at this place (a newer place of the holder stays)."""
        try:
            self.table.call(
                "delete_item",
                Key=self.index_key(waiter.key),
                ConditionExpression="#at = :at",
                ExpressionAttributeNames={"#at": "at"},
                ExpressionAttributeValues={":at": {"S": waiter.sort_key}},
            )
        except ConditionFailed:
            return

    def delete_action(self, waiter: Waiter, *, with_its_token: bool = False) -> dict[str, Any]:
        """The transaction action that deletes ``waiter``'s place; ``with_its_token``: only while it still has the
        token we read (a re-check may have just replaced it, and the hand-over must tell the token that waits)."""
        delete: dict[str, Any] = {
            "TableName": self.table.name,
            "Key": self.waiter_key(waiter.sort_key),
            "ConditionExpression": "attribute_exists(pk)",
        }
        if with_its_token:
            delete["ConditionExpression"] = "#token = :token"
            delete["ExpressionAttributeNames"] = {"#token": "token"}
            delete["ExpressionAttributeValues"] = {":token": {"S": waiter.token}}
        return {"Delete": delete}


def _counts(place: Place | None, waiter: Waiter) -> bool:
    """Whether ``place`` (the index item of ``waiter``'s holder) says the count includes ``waiter``'s place."""
    return place is not None and place.sort_key == waiter.sort_key and place.counted
