"""Leases of a prefix in the wide item layout (caps above ``item_layout.WIDE_ABOVE_CAP``): a count on the
semaphore item, and each lease in its own small item.

Why: DynamoDB bills a write by the size of the item written, a failed condition included
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html). With
every holder in one map, each admission and release of a cap-1,000 prefix writes ~15 KB (15 WCU). Here
the semaphore item stays ~100 bytes (cap, count ``n``, waiting, timings) and a lease is a ~60-byte item:

- an admission is one transaction that raises ``n`` under the cap (and, in handoff mode, only while
  nobody waits) and creates the holder's item only if it does not exist; a release one that deletes the
  holder's item (only if it holds) and lowers ``n``. Two 1 KB items, billed twice as a transaction
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-capacity-handling):
  4 WCU each, 8 a cycle, at any cap. ``n`` changes in no other way, so it always equals the number
  of holder items, and the cap holds as it does with the map: by one item's conditional write.
- each is preceded by a strongly consistent read of the semaphore item (1 RCU): a refused admission is
  that read alone, no write, and a release that finds executions waiting goes straight to the hand-over.
- a hand-over moves the slot in one transaction: delete the releaser's item, create the waiter's, take
  the waiter off ``waiting`` (``n`` is unchanged), delete its place.
- free slots found while executions wait (handoff mode) go to the oldest waiters up to
  ``MAX_ADMITTED_AT_ONCE`` in one transaction: the count raised by k, k holder items created, k places
  deleted. A burst that queues faster than one transaction per admission would admit (a transaction
  holds the semaphore item for tens of milliseconds) is then served as fast as it arrives.
- renewing, checking or bringing forward one lease touches only its own item.

What it costs in behaviour, besides the transactions: an admission does not see expired leases (that
would mean reading every holder), so a slot whose holder died is reclaimed by the sweeper
(``reconciler``, every minute) or by cleanup when the execution's end is reported, not by the next
acquire. Transactions on one item conflict with each other (TransactionConflict), where single writes
queue: an admission retries a conflict in rounds of its own (``MAX_CONFLICT_ROUNDS``: a conflict is no sign
of a full prefix, and answering "wait" would idle a free slot); the other operations pause and try again
within their usual bounded rounds.

Every method raises ``OtherLayout`` when it finds the semaphore item missing or in the narrow layout
(a cap change on an idle prefix switches it): ``semaphore.LeaseSemaphore`` then runs the other layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lease_core.errors import LeaseStoreUnavailable
from lease_core.item_layout import (
    CAP,
    COUNT,
    ENTRY,
    LEASE_SECONDS,
    NAMES,
    NOBODY_WAITING,
    TASK_SECONDS,
    WAITING,
    Entry,
    expired_at_most,
    held_condition,
    holder_item_key,
    holders_partition,
    is_wide,
    new_grant,
    semaphore_key,
    uncount,
)
from lease_core.outcomes import Acquired, Admission, HeldLease, LeaseSnapshot, MustWait
from lease_core.queue_items import QueueItems, Waiter
from lease_core.races import MAX_ACQUIRE_ROUNDS, MAX_ROUNDS, LookAgain, NotHeld, OtherLayout, pause
from lease_core.store import (
    CONDITION_FAILED,
    ConditionFailed,
    DynamoTable,
    TransactionCancelled,
    plain_item,
    used_names,
)
from lease_core.waiter_count import WaiterCount

ONE = {"N": "1"}
MINUS_ONE = {"N": "-1"}
ZERO = {"N": "0"}
IS_WIDE = "attribute_exists(#n)"
# Rounds an admission retries a transaction cancelled only by TransactionConflict (another transaction on the
# semaphore item, tens of milliseconds): pauses of 2-10 ms times the round, under a second in all.
MAX_CONFLICT_ROUNDS = 16
# Waiters one transaction admits at most: 2k + 1 of TransactWriteItems' 100 actions, and few enough that a
# re-check renewing one of their tokens meanwhile (which cancels the batch) stays rare.
MAX_ADMITTED_AT_ONCE = 25


class WideLeases:
    def __init__(
        self,
        table: DynamoTable,
        prefix: str,
        *,
        ttl_seconds: int,
        clock: Callable[[], float],
        queue: QueueItems,
        waiters: WaiterCount,
    ) -> None:
        self.table = table
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self.queue = queue
        self.waiters = waiters
        self._key = semaphore_key(prefix)

    def now(self) -> int:
        return int(self._clock())

    # -- reading -------------------------------------------------------------------------------------

    def read(self, *, consistent: bool = True) -> dict[str, Any]:
        """The semaphore item; ``OtherLayout`` unless it exists in this layout."""
        item = plain_item(self.table.call("get_item", Key=self._key, ConsistentRead=consistent).get("Item"))
        if not is_wide(item):
            raise OtherLayout(wide=False)
        assert item is not None
        return item

    def entry(self, key: str) -> Entry | None:
        """One holder's lease (a strongly consistent GetItem of its item), None if it holds none."""
        response = self.table.call("get_item", Key=holder_item_key(self.prefix, key), ConsistentRead=True)
        item = plain_item(response.get("Item"))
        return None if not item or ENTRY not in item else Entry.unpack(item[ENTRY])

    def holders(self) -> dict[str, HeldLease]:
        """Every holder's lease (a strongly consistent Query of the holder items): operators, cleanup, the sweeper."""
        found: dict[str, HeldLease] = {}
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :partition",
            "ExpressionAttributeValues": {":partition": {"S": holders_partition(self.prefix)}},
            "ConsistentRead": True,
        }
        while True:
            page = self.table.call("query", **request)
            for raw in page.get("Items", []):
                item = plain_item(raw) or {}
                if ENTRY in item:
                    entry = Entry.unpack(item[ENTRY])
                    found[str(item["sk"])] = HeldLease(expires_at=entry.expires_at, grant=entry.grant)
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def snapshot(self, item: dict[str, Any], *, with_holders: bool) -> LeaseSnapshot:
        """The prefix as ``item`` shows it; its holders listed only ``with_holders`` (a Query), else counted."""
        return LeaseSnapshot(
            prefix=self.prefix,
            cap=int(item[CAP]),
            holders=self.holders() if with_holders else {},
            task_seconds=None if item.get(TASK_SECONDS) is None else int(item[TASK_SECONDS]),
            waiting=int(item.get(WAITING, 0)),
            enqueued=int(item.get("enqueued", 0)),
            lease_seconds=None if item.get(LEASE_SECONDS) is None else int(item[LEASE_SECONDS]),
            count=None if with_holders else int(item[COUNT]),
        )

    def looks_full(self) -> MustWait | None:
        item = self.read(consistent=False)
        count, cap = int(item[COUNT]), int(item[CAP])
        return MustWait(active=count, cap=cap) if count >= cap else None

    # -- admission -----------------------------------------------------------------------------------

    def acquire(self, holder: str, key: str, *, behind_waiters: bool) -> Acquired | MustWait:
        """Admit ``holder`` if a slot is free (or it holds one already: renewed), else say how full it is."""
        seen: MustWait | None = None
        conflicts = 0
        attempt = 0
        while attempt < MAX_ACQUIRE_ROUNDS:
            attempt += 1
            item = self.read()
            count, cap = int(item[COUNT]), int(item[CAP])
            expires_at = self.now() + self.ttl_seconds
            seen = MustWait(active=count, cap=cap)
            if count >= cap or (behind_waiters and int(item.get(WAITING, 0)) > 0):
                # A retried acquire of a holder that got in is answered as it was the first time (renewed).
                if self.entry(key) is not None and self._renew(key, expires_at):
                    return Acquired(holder, self.prefix, expires_at)
                return seen
            condition = f"{IS_WIDE} AND #n < #cap" + (f" AND {NOBODY_WAITING}" if behind_waiters else "")
            count_up = self._count_action("ADD #n :one", condition, {":one": ONE, ":zero": ZERO})
            count_up["Update"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"  # the count that refused us
            try:
                self._transact([count_up, self._create_action(key, Entry(expires_at))])
                return Acquired(holder, self.prefix, expires_at)
            except TransactionCancelled as cancelled:
                refused_by = cancelled.item_of(0)
                if cancelled.reason_of(0) == CONDITION_FAILED and refused_by is not None and COUNT in refused_by:
                    # A "wait" after the last lost race reports the semaphore as it refused, not as read before.
                    seen = MustWait(active=int(refused_by[COUNT]), cap=int(refused_by[CAP]))
                if cancelled.reason_of(1) == CONDITION_FAILED and self._renew(key, expires_at):
                    return Acquired(holder, self.prefix, expires_at)
                if CONDITION_FAILED not in cancelled.reasons and conflicts < MAX_CONFLICT_ROUNDS:
                    # Only another transaction in progress on the semaphore item: not a lost race, and a slot
                    # may well be free. Answering "wait" would idle it for a whole poll interval (or queue
                    # a newcomer behind nobody), so conflicts have rounds of their own, with growing pauses.
                    conflicts += 1
                    attempt -= 1
                    pause(conflicts)
        if seen is None:
            raise LeaseStoreUnavailable(f"the semaphore of prefix {self.prefix!r} could not be read; try again")
        return seen  # lost every race in a row: "wait" rather than admit on a guess

    def admit_heads(self, seen: LeaseSnapshot) -> list[Admission]:
        """Give the free slots ``seen`` shows to the oldest waiters, up to ``MAX_ADMITTED_AT_ONCE`` in one
        transaction; [] if nobody waits. ``LookAgain`` if something changed first.

        One transaction raises the count by k only while it is at most cap - k (on a cap no lower than the one
        read), creates the k holder items only where none exists, and deletes the k places only while they
        hold the tokens read. Admitting one head per transaction would serialize a wide prefix's admissions
        on its semaphore item at one per transaction (15-30 ms): slower than a burst arrives.
        """
        free = seen.cap - seen.held
        waiters = self.queue.heads(max(1, min(free, MAX_ADMITTED_AT_ONCE)))
        if not waiters:
            self.waiters.forget_phantoms(seen)
            return []
        # A holder queued twice (a queueing retried after its index item was lost): one transaction may not touch
        # its holder item twice, so the batch ends before its second place, which a later round spends.
        keys = [waiter.key for waiter in waiters]
        waiters = waiters[: next((i for i, key in enumerate(keys) if key in keys[:i]), len(keys))]
        counted = self.queue.counted(waiters)
        expires_at = self.now() + self.ttl_seconds
        entries = [Entry(expires_at, new_grant()) for _ in waiters]
        served = len(waiters)
        uncounting, values = uncount(sum(counted))
        update = "ADD #n :served" + uncounting.replace(" ADD", ",")
        values |= {":served": {"N": str(served)}, ":most": {"N": str(seen.cap - served)}, ":cap": {"N": str(seen.cap)}}
        try:
            self._transact(
                [
                    self._count_action(update, f"{IS_WIDE} AND #n <= :most AND #cap >= :cap", values),
                    *(self._create_action(waiter.key, entry) for waiter, entry in zip(waiters, entries, strict=True)),
                    *(self.queue.delete_action(waiter, with_its_token=True) for waiter in waiters),
                ]
            )
        except TransactionCancelled as cancelled:
            holding = [i for i in range(served) if cancelled.reason_of(1 + i) == CONDITION_FAILED]
            # Ours may have landed with its answer lost (a retry then finds every holder item there); a
            # competing admission of only some of these waiters cannot pass for it.
            landed = self._granted(waiters, entries) if len(holding) == served else []
            if landed:
                return landed
            for i in holding:  # it holds a slot already: its place is spent
                self.waiters.remove(waiters[i], counted=counted[i])
            if not holding and cancelled.reason_of(0) == CONDITION_FAILED:
                self.read()  # fewer slots free now, or no longer this layout
            raise LookAgain from None
        except LeaseStoreUnavailable:
            landed = self._granted(waiters, entries)
            if not landed:
                raise
            return landed
        return self._admitted(waiters, entries)

    # -- releasing -----------------------------------------------------------------------------------

    def free(self, key: str, exact: Entry | None) -> bool | LeaseSnapshot:
        """Release without a hand-over: True, False if it held nothing, or (waiters to serve) what was read."""
        item = self.read()
        if int(item.get(WAITING, 0)) > 0 and int(item[COUNT]) <= int(item[CAP]):
            return self.snapshot(item, with_holders=False)
        held, values = held_condition(exact, "#e")
        try:
            self._transact(
                [
                    self._delete_action(key, held, values),
                    self._count_action(
                        "ADD #n :minus_one",
                        f"{IS_WIDE} AND ({NOBODY_WAITING} OR #n > #cap)",
                        {":minus_one": MINUS_ONE, ":zero": ZERO},
                    ),
                ]
            )
        except TransactionCancelled as cancelled:
            if cancelled.reason_of(0) == CONDITION_FAILED:
                self.read()  # it holds nothing (in this layout, which the read confirms)
                return False
            raise LookAgain from None  # someone queued meanwhile, or a conflict: look again
        return True

    def hand_over(self, releasing: str, exact: Entry | None, seen: LeaseSnapshot) -> Admission | None:
        """Give ``releasing``'s slot to the oldest waiter in one transaction; None if the queue turned out empty."""
        waiter = self.queue.head()
        if waiter is None:
            return None
        counted = self.queue.counts(waiter)
        if waiter.key == releasing:
            # The head is the releaser's own place. A waiter that holds nothing released: it keeps its place.
            lease = self.entry(releasing)
            if lease is None or (exact is not None and lease != exact):
                raise NotHeld
            self.waiters.remove(waiter, counted=counted)  # a place of a holder (a serving cut short): spent
            raise LookAgain(waiter.sort_key)
        held, held_values = held_condition(exact, "#e")
        entry = Entry(self.now() + self.ttl_seconds, new_grant())
        update, values = uncount(counted)
        if not update:  # the count does not include this place: the item is only checked (adding zero)
            update, values = " ADD #waiting :nothing", {":nothing": ZERO}
        try:
            self._transact(
                [
                    self._delete_action(releasing, held, held_values),
                    self._create_action(waiter.key, entry),
                    # A lowered cap: hand over only while the holders, the releaser included, are within it.
                    self._count_action(update.strip(), f"{IS_WIDE} AND #n <= #cap", values),
                    self.queue.delete_action(waiter, with_its_token=True),
                ]
            )
        except TransactionCancelled as cancelled:
            if cancelled.reason_of(0) == CONDITION_FAILED:
                landed = self._granted([waiter], [entry])
                if landed:  # our hand-over landed; only its answer was lost
                    return landed[0]
                self.read()
                raise NotHeld from None
            if cancelled.reason_of(1) == CONDITION_FAILED:  # the waiter got a slot by itself: its place is spent
                self.waiters.remove(waiter, counted=counted)
            elif cancelled.reason_of(2) == CONDITION_FAILED:
                self.read()  # over a lowered cap (the next round frees the slot), or no longer this layout
            raise LookAgain(waiter.sort_key) from None
        except LeaseStoreUnavailable:
            landed = self._granted([waiter], [entry])  # the hand-over may have landed with its answer lost
            if not landed:
                raise
            return landed[0]
        return self._admitted([waiter], [entry])[0]

    def remove(self, key: str, condition: str, values: dict[str, Any]) -> bool:
        """Delete one holder's item if ``condition`` holds on it, lowering the count: False if it did not."""
        for attempt in range(MAX_ROUNDS):
            try:
                self._transact(
                    [
                        self._delete_action(key, condition, values),
                        self._count_action("ADD #n :minus_one", IS_WIDE, {":minus_one": MINUS_ONE}),
                    ]
                )
                return True
            except TransactionCancelled as cancelled:
                if cancelled.reason_of(0) == CONDITION_FAILED:
                    self.read()  # no such lease: in this layout, which the read confirms (else OtherLayout)
                    return False
                if cancelled.reason_of(1) == CONDITION_FAILED:
                    self.read()  # raises: the layout changed
                pause(attempt)
        raise LeaseStoreUnavailable(f"could not remove holder key {key!r} on prefix {self.prefix!r}; try again")

    def release_exact(self, key: str, exact: Entry) -> bool:
        return self.remove(key, "#e = :exact", {":exact": exact.packed()})

    def reclaim(self, keys: list[str]) -> list[str]:
        now = self.now()
        return [key for key in keys if self.remove(key, "#e <= :expired", {":expired": expired_at_most(now)})]

    # -- one lease's own item ---------------------------------------------------------------------------

    def write_entry(self, key: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        """A plain conditional write of one holder's item (never creating it); False if the condition failed."""
        try:
            self.table.call(
                "update_item",
                Key=holder_item_key(self.prefix, key),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#e": ENTRY},
                ExpressionAttributeValues=values,
            )
        except ConditionFailed:
            self.read()  # it holds nothing: in this layout, which the read confirms
            return False
        return True

    def _renew(self, key: str, expires_at: int) -> bool:
        return self.write_entry(key, "SET #e = :lease", "attribute_exists(#e)", {":lease": Entry(expires_at).packed()})

    def _granted(self, waiters: list[Waiter], entries: list[Entry]) -> list[Admission]:
        """The admissions of ``waiters`` if every one holds exactly its entry: our admission landed, its answer
        was lost. [] if it did not.

        Every entry is compared, not just the first (a transaction lands whole): an entry is a second and a
        grant of 1-9999, so another admitter may, rarely, have given one of these waiters the very same entry
        within the same second; all k of them matching by chance is negligible. One waiter: a GetItem.
        """
        if len(waiters) == 1:
            held = {waiters[0].key: self.entry(waiters[0].key)}
        else:
            items = self.table.get_many([holder_item_key(self.prefix, waiter.key) for waiter in waiters])
            held = {str(item["sk"]): Entry.unpack(item[ENTRY]) for item in items if ENTRY in item}
        if any(held.get(waiter.key) != entry for waiter, entry in zip(waiters, entries, strict=True)):
            return []
        return self._admitted(waiters, entries)

    def _admitted(self, waiters: list[Waiter], entries: list[Entry]) -> list[Admission]:
        for waiter in waiters:
            self.queue.forget_index(waiter)
        return [Admission(w, self.prefix, e.expires_at, e.grant) for w, e in zip(waiters, entries, strict=True)]

    # -- plumbing ------------------------------------------------------------------------------------------

    def _count_action(self, update: str, condition: str, values: dict[str, Any]) -> dict[str, Any]:
        values = {name: value for name, value in values.items() if name in update or name in condition}
        return {
            "Update": {
                "TableName": self.table.name,
                "Key": self._key,
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": used_names(NAMES, update, condition),
                **({"ExpressionAttributeValues": values} if values else {}),
            }
        }

    def _create_action(self, key: str, entry: Entry) -> dict[str, Any]:
        """Create a holder's item; the transaction is cancelled if it exists (it holds already)."""
        return {
            "Update": {
                "TableName": self.table.name,
                "Key": holder_item_key(self.prefix, key),
                "UpdateExpression": "SET #e = :lease",
                "ConditionExpression": "attribute_not_exists(#e)",
                "ExpressionAttributeNames": {"#e": ENTRY},
                "ExpressionAttributeValues": {":lease": entry.packed()},
            }
        }

    def _delete_action(self, key: str, condition: str, values: dict[str, Any]) -> dict[str, Any]:
        delete: dict[str, Any] = {
            "TableName": self.table.name,
            "Key": holder_item_key(self.prefix, key),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#e": ENTRY},
        }
        if values:
            delete["ExpressionAttributeValues"] = values
        return {"Delete": delete}

    def _transact(self, items: list[dict[str, Any]]) -> None:
        self.table.call("transact_write_items", TransactItems=items)
