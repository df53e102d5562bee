"""Handoff mode: the executions waiting for a slot of a prefix, in arrival order, served first-come first-served.

Each waiter is an item of the prefix (``pk = "<prefix>#waiters"``,
``sk = "<enqueued ms>#<holder digest>"``) holding the task token of its waiting
``.waitForTaskToken`` task; the semaphore item counts them in ``waiting``. A
slot freed by a release never stands free while someone waits, one freed by
expiry, cleanup or a raised cap only until the next fill, and nobody overtakes:

- a newcomer may take a free slot only when ``waiting`` is 0 (the admission
  condition says so), otherwise it queues;
- a release that sees ``waiting > 0`` gives its slot straight to the oldest
  waiter, in one transaction that moves the lease from the releaser to the
  waiter and deletes the waiter's item, so the holder count never changes;
- queueing is followed by ``fill_free_slots``, which gives every free slot to the
  head of the queue: a release that landed between a newcomer's failed admission
  and its queueing is caught there (no lost wakeup); reclaim, the sweeper and a
  cap change fill too.

The caller tells the waiter (SendTaskSuccess). A waiter whose execution ended can
no longer be told; its slot is then passed on to the next one the same way.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lease_core.errors import LeaseStoreUnavailable
from lease_core.lease_entry import lease_value, new_grant, short_digest
from lease_core.store import CONDITION_FAILED, ConditionFailed, TransactionCancelled, plain_item, used_names

if TYPE_CHECKING:
    from lease_core.semaphore import LeaseSemaphore, LeaseSnapshot

MAX_TOKEN_LENGTH = 2048
# Rounds of looking again after a lost race (another release or admission changed the queue first).
MAX_ROUNDS = 8
# A queued execution re-checks at least daily (recheck_seconds is at most 86,400): one that has not for
# longer is gone, and DynamoDB's TTL may drop its item (a count left too high is reset when the queue empties).
ABANDONED_WAITER_SECONDS = 86_400 + 3_600


@dataclass(frozen=True)
class Waiter:
    holder: str
    token: str
    sort_key: str

    @property
    def enqueued_at(self) -> float:
        """When it queued (epoch seconds), from its sort key."""
        return int(self.sort_key.split("#", 1)[0]) / 1000


@dataclass(frozen=True)
class Admission:
    """A waiter that now holds a slot and must be told so (SendTaskSuccess with its token)."""

    waiter: Waiter
    prefix: str
    expires_at: int
    grant: str  # the hand-over's id in the lease entry: taking the slot back (waiter gone) needs it

    def as_event(self) -> dict[str, Any]:
        return {
            "status": "acquired",
            "holder": self.waiter.holder,
            "prefix": self.prefix,
            "expires_at": self.expires_at,
        }


def _waiter(item: dict[str, Any]) -> Waiter:
    return Waiter(holder=str(item["holder"]), token=str(item["token"]), sort_key=str(item["sk"]))


class WaitingRoom:
    def __init__(self, semaphore: LeaseSemaphore) -> None:
        self.semaphore = semaphore
        self.table = semaphore.table
        self.partition = f"{semaphore.prefix}#waiters"

    # -- reading ---------------------------------------------------------------------------------

    def waiters(self, limit: int | None = None) -> list[Waiter]:
        """The queue, oldest first (strongly consistent)."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :partition",
            "ExpressionAttributeValues": {":partition": {"S": self.partition}},
            "ConsistentRead": True,
            "ScanIndexForward": True,
        }
        if limit is not None:
            request["Limit"] = limit
        found: list[Waiter] = []
        while True:
            page = self.table.call("query", **request)
            found += [_waiter(plain_item(item) or {}) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page or (limit is not None and len(found) >= limit):
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def head(self) -> Waiter | None:
        oldest = self.waiters(limit=1)
        return oldest[0] if oldest else None

    def find(self, holder: str) -> Waiter | None:
        return next((waiter for waiter in self.waiters() if waiter.holder == holder), None)

    # -- writing ---------------------------------------------------------------------------------

    def _waiter_key(self, sort_key: str) -> dict[str, Any]:
        return {"pk": {"S": self.partition}, "sk": {"S": sort_key}}

    def _semaphore_update(
        self, update: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> dict[str, Any]:
        all_names = {
            "#holders": "holders",
            "#cap": "cap",
            "#waiting": "waiting",
            "#enqueued": "enqueued",
            "#grant": "g",
            **names,
        }
        return {
            "Update": {
                "TableName": self.table.name,
                "Key": self.semaphore._key,
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": used_names(all_names, update, condition),
                "ExpressionAttributeValues": values,
            }
        }

    def _delete_waiter(self, waiter: Waiter, *, with_its_token: bool = False) -> dict[str, Any]:
        """Delete ``waiter``'s item; ``with_its_token``: only while it still has the token we read (a
        re-check may have just replaced it, and the hand-over must tell the token that is waiting)."""
        delete: dict[str, Any] = {
            "TableName": self.table.name,
            "Key": self._waiter_key(waiter.sort_key),
            "ConditionExpression": "attribute_exists(pk)",
        }
        if with_its_token:
            delete["ConditionExpression"] = "#token = :token"
            delete["ExpressionAttributeNames"] = {"#token": "token"}
            delete["ExpressionAttributeValues"] = {":token": {"S": waiter.token}}
        return {"Delete": delete}

    def _ttl(self) -> dict[str, str]:
        """When DynamoDB may delete a waiter nobody served: a live one re-checks (and is refreshed) well before."""
        return {"N": str(self.semaphore.now() + ABANDONED_WAITER_SECONDS)}

    def _transact(self, items: list[dict[str, Any]]) -> None:
        self.table.call("transact_write_items", TransactItems=items)

    def enqueue(self, holder: str, token: str) -> Waiter | None:
        """Queue ``holder`` with its task token; a holder already queued keeps its place and gets the new token.

        None if it must look again: its place vanished while being refreshed, or it holds a slot
        (handed to it meanwhile), so that an execution is never both a holder and a waiter.
        """
        existing = self.find(holder)
        if existing is not None:
            try:
                self.table.call(
                    "update_item",
                    Key=self._waiter_key(existing.sort_key),
                    UpdateExpression="SET #token = :token, #ttl = :ttl",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeNames={"#token": "token", "#ttl": "ttl"},
                    ExpressionAttributeValues={":token": {"S": token}, ":ttl": self._ttl()},
                )
            except ConditionFailed:
                return None
            return Waiter(holder, token, existing.sort_key)
        waiter = Waiter(holder, token, f"{self.semaphore.now_ms():015d}#{short_digest(holder)}")
        for attempt in range(MAX_ROUNDS):
            try:
                self._transact(
                    [
                        self._semaphore_update(
                            "ADD #waiting :one, #enqueued :one",
                            "attribute_exists(#cap) AND attribute_not_exists(#holders.#holder)",
                            {"#holder": holder},
                            {":one": {"N": "1"}},
                        ),
                        {
                            "Put": {
                                "TableName": self.table.name,
                                "Item": {
                                    **self._waiter_key(waiter.sort_key),
                                    "holder": {"S": holder},
                                    "token": {"S": token},
                                    "ttl": self._ttl(),
                                },
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )
                return waiter
            except TransactionCancelled as cancelled:
                # Our own write whose answer was lost and was then retried, a slot handed to us
                # meanwhile (look again: we hold it), or a conflicting transaction (try again).
                landed = self.find(holder)
                if landed is not None:
                    return landed
                if cancelled.reason_of(0) == CONDITION_FAILED:
                    return None
                _pause(attempt)
            except LeaseStoreUnavailable:
                landed = self.find(holder)  # the write may have landed with its answer lost
                if landed is None:
                    raise
                return landed
        raise LeaseStoreUnavailable(f"could not queue for prefix {self.semaphore.prefix!r}: the queue kept changing")

    def fill_free_slots(self) -> list[Admission]:
        """Give every free slot to the oldest waiters; returns those admitted, to be told."""
        admitted: list[Admission] = []
        for attempt in range(MAX_ROUNDS * 4):
            snapshot = self.semaphore.inspect()  # read before the queue: see _forget_phantom_waiters
            if snapshot.waiting <= 0:
                return admitted
            expired = snapshot.expired(self.semaphore.now())
            if len(snapshot.holders) >= snapshot.cap and expired:
                self.semaphore.reclaim(expired)  # expired leases must not keep the queue waiting
                continue
            if len(snapshot.holders) >= snapshot.cap:
                return admitted
            waiter = self.head()
            if waiter is None:
                self._forget_phantom_waiters(snapshot)
                return admitted
            if waiter.holder in snapshot.holders:
                self.remove(waiter)  # it got in by itself meanwhile: its place in line is spent
                continue
            now = self.semaphore.now()
            expires_at = now + self.semaphore.ttl_seconds
            grant = new_grant()
            try:
                self._transact(
                    [
                        self._semaphore_update(
                            "SET #holders.#waiter = :lease ADD #waiting :minus_one",
                            "size(#holders) < #cap AND attribute_not_exists(#holders.#waiter)",
                            {"#waiter": waiter.holder},
                            {":lease": lease_value(now, expires_at, grant), ":minus_one": {"N": "-1"}},
                        ),
                        self._delete_waiter(waiter, with_its_token=True),
                    ]
                )
            except TransactionCancelled:
                landed = self._granted(waiter, grant)
                if landed is not None:  # it was ours: the answer was lost, the grant was not
                    admitted.append(landed)
                else:  # someone else changed the semaphore or the queue first: look again
                    _pause(attempt)
                continue
            except LeaseStoreUnavailable:
                landed = self._granted(waiter, grant)
                if landed is None:
                    raise
                admitted.append(landed)
                continue
            admitted.append(Admission(waiter, self.semaphore.prefix, expires_at, grant))
        return admitted

    def hand_over(self, releasing: str, *, grant: str | None = None) -> Admission | None:
        """Give ``releasing``'s slot to the oldest waiter in one transaction; None if the queue turned out empty.

        ``grant``: only if ``releasing`` holds the slot under that grant (see ``LeaseSemaphore.release``).
        """
        from lease_core.semaphore import held_condition

        held, held_values = held_condition(grant, "#releasing")
        for attempt in range(MAX_ROUNDS):
            waiter = self.head()
            if waiter is None:
                return None
            if waiter.holder == releasing:
                self.remove(waiter)  # a stale place of the releaser itself: it cannot wait for its own slot
                continue
            now = self.semaphore.now()
            expires_at = now + self.semaphore.ttl_seconds
            granting = new_grant()
            try:
                self._transact(
                    [
                        self._semaphore_update(
                            "REMOVE #holders.#releasing SET #holders.#waiter = :lease ADD #waiting :minus_one",
                            # A lowered cap: hand over only while the holders, the releaser included,
                            # are within it; above it the release frees the slot and admits nobody.
                            f"{held} AND attribute_not_exists(#holders.#waiter) AND size(#holders) <= #cap",
                            {"#releasing": releasing, "#waiter": waiter.holder},
                            {
                                **held_values,
                                ":lease": lease_value(now, expires_at, granting),
                                ":minus_one": {"N": "-1"},
                            },
                        ),
                        self._delete_waiter(waiter, with_its_token=True),
                    ]
                )
            except TransactionCancelled as cancelled:
                if cancelled.reason_of(0) == CONDITION_FAILED:
                    snapshot = self.semaphore.inspect()
                    lease = snapshot.holders.get(releasing)
                    if lease is None or (grant is not None and lease.grant != grant):
                        landed = self._granted(waiter, granting, snapshot)
                        if landed is not None:  # our hand-over landed; only its answer was lost
                            return landed
                        raise _NotHeld from None
                    if len(snapshot.holders) > snapshot.cap:
                        raise _OverCap from None
                    if waiter.holder in snapshot.holders:
                        self.remove(waiter)  # it got in by itself: not a waiter any more
                        continue
                _pause(attempt)  # the waiter's token changed (read it again) or a conflict: try again
                continue
            except LeaseStoreUnavailable:
                landed = self._granted(waiter, granting)  # the hand-over may have landed with its answer lost
                if landed is None:
                    raise
                return landed
            return Admission(waiter, self.semaphore.prefix, expires_at, granting)
        raise LeaseStoreUnavailable(
            f"could not hand over a slot of prefix {self.semaphore.prefix!r}: the queue kept changing; try again"
        )

    def remove(self, waiter: Waiter) -> bool:
        """Take a waiter out of the queue (its execution ended, or it got a slot by itself).

        False if it was no longer there (someone else took it out, or handed it a slot).
        """
        for attempt in range(MAX_ROUNDS):
            try:
                self._transact(
                    [
                        self._semaphore_update(
                            "ADD #waiting :minus_one", "attribute_exists(#cap)", {}, {":minus_one": {"N": "-1"}}
                        ),
                        self._delete_waiter(waiter),
                    ]
                )
            except TransactionCancelled as cancelled:
                if CONDITION_FAILED in cancelled.reasons:
                    return False
                _pause(attempt)  # a conflicting transaction on the semaphore: try again
                continue
            return True
        return False

    def _granted(self, waiter: Waiter, grant: str, snapshot: LeaseSnapshot | None = None) -> Admission | None:
        """``waiter``'s admission if it holds the slot under ``grant``: our hand-over landed, its answer was lost."""
        snapshot = snapshot or self.semaphore.inspect()
        lease = snapshot.holders.get(waiter.holder)
        if lease is None or lease.grant != grant:
            return None
        return Admission(waiter, self.semaphore.prefix, lease.expires_at, grant)

    def _forget_phantom_waiters(self, seen: LeaseSnapshot) -> None:
        """The count says someone waits but the queue was found empty (an item deleted by hand or by TTL): reset it.

        ``seen`` must have been read before the queue was found empty. The reset is conditional on
        both the count and the number of queueings ever made being as seen then, so it cannot erase
        an execution that queued (or a count that changed) in between.
        """
        try:
            self.table.call(
                "update_item",
                Key=self.semaphore._key,
                UpdateExpression="SET #waiting = :zero",
                ConditionExpression="#waiting = :counted AND "
                + ("#enqueued = :enqueued" if seen.enqueued else "attribute_not_exists(#enqueued)"),
                ExpressionAttributeNames={"#waiting": "waiting", "#enqueued": "enqueued"},
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":counted": {"N": str(seen.waiting)},
                    **({":enqueued": {"N": str(seen.enqueued)}} if seen.enqueued else {}),
                },
            )
        except ConditionFailed:
            return  # the queue changed meanwhile: whoever changed it sees to it


def _pause(attempt: int) -> None:
    """A short random pause before trying again after losing a race on the semaphore item."""
    time.sleep(random.uniform(0.002, 0.01) * (attempt + 1))


class _NotHeld(Exception):
    """Internal: the releasing holder held nothing to hand over."""


class _OverCap(Exception):
    """Internal: the holders are over a lowered cap, so the releasing slot is freed, not handed over."""
