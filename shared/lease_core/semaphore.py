"""A per-prefix counting semaphore on the shared lease table: one item per prefix, one write per admission.

A prefix's leases are in one of two item layouts (``item_layout``), chosen by its cap when it has no
holders; every operation finds out which from the item itself. Up to ``WIDE_ABOVE_CAP`` (the caps of
nearly every workload) the narrow layout below, this module's own; above it the wide layout
(``wide_layout``: a count on the semaphore item and one item per lease), so that no operation's cost
grows with the cap.

In the narrow layout the semaphore item holds ``cap`` and ``h``, a map from holder key to a packed
entry (expiry and grant). Admission is a single conditional ``UpdateItem``:

    SET h.#k = :entry
    IF attribute_exists(h.#k) OR size(h) < cap

DynamoDB applies a conditional write to one item atomically, so however many callers race, the map
never grows past ``cap``: that is the whole cap invariant. The holder's own key in the condition makes a
retried acquire idempotent. Expired holders still count against the cap until a conditional write
removes them (only if still expired), so an expired lease can never be double-booked.

Handoff mode (``WaitingRoom``): a release that finds executions waiting gives its slot straight to the
oldest of them, in one transaction that moves the lease from the releaser to the waiter and deletes the
waiter's place, so the slot never stands free while someone waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeGuard, TypeVar
from weakref import WeakKeyDictionary

from lease_core import item_layout
from lease_core.errors import LeaseLost, LeaseStoreUnavailable, UnknownPrefix
from lease_core.item_layout import (
    CAP,
    COUNT,
    ENQUEUED,
    HOLDERS,
    LEASE_SECONDS,
    LEGACY_HOLDERS,
    NAMES,
    NOBODY_WAITING,
    TASK_SECONDS,
    WAITING,
    Entry,
    expired_at_most,
    held_condition,
    holder_key,
    is_wide,
    new_grant,
    semaphore_key,
    uncount,
    wide_for,
)
from lease_core.outcomes import (
    Acquired,
    Admission,
    CapChange,
    HeldLease,
    LeaseSnapshot,
    MustWait,
    Released,
    Renewed,
)
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
from lease_core.validation import (
    validate_cap,
    validate_holder,
    validate_prefix,
    validate_table_name,
    validate_ttl_seconds,
)
from lease_core.waiter_count import WaiterCount
from lease_core.wide_layout import WideLeases

__all__ = [
    "MAX_ACQUIRE_ROUNDS",
    "MAX_ROUNDS",
    "Acquired",
    "Admission",
    "CapChange",
    "HeldLease",
    "LeaseSemaphore",
    "LeaseSnapshot",
    "MustWait",
    "Released",
    "Renewed",
]

# Bounds one reclaim write's expression size (DynamoDB allows 4 KB per expression).
MAX_RECLAIMS_PER_WRITE = 40
# The layout each prefix was last found in through a client, by (table, prefix): a hint that saves a wrong
# first try, never trusted (every write of either layout fails on an item of the other).
_LAYOUT_SEEN: WeakKeyDictionary[Any, dict[tuple[str, str], bool]] = WeakKeyDictionary()
T = TypeVar("T")


def _is_semaphore(item: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    return item is not None and CAP in item and HOLDERS in item


def _is_legacy(item: dict[str, Any] | None) -> bool:
    return item is not None and LEGACY_HOLDERS in item


def snapshot_from_item(prefix: str, item: dict[str, Any]) -> LeaseSnapshot:
    holders = {}
    for key, value in (item.get(HOLDERS) or {}).items():
        entry = Entry.unpack(value)
        holders[str(key)] = HeldLease(expires_at=entry.expires_at, grant=entry.grant)
    return LeaseSnapshot(
        prefix=prefix,
        cap=int(item[CAP]),
        holders=holders,
        task_seconds=None if item.get(TASK_SECONDS) is None else int(item[TASK_SECONDS]),
        waiting=int(item.get("waiting", 0)),
        enqueued=int(item.get("enqueued", 0)),
        lease_seconds=None if item.get(LEASE_SECONDS) is None else int(item[LEASE_SECONDS]),
    )


def _holds(item: dict[str, Any], key: str, exact: Entry | None) -> bool:
    value = (item.get(HOLDERS) or {}).get(key)
    return value is not None and (exact is None or Entry.unpack(value) == exact)


class LeaseSemaphore:
    """Acquire, release, renew, inspect and set the cap of one prefix's leases.

    The client is an injected low-level boto3 DynamoDB client; nothing here reads
    the environment. ``initial_cap`` is used only when the prefix has no
    semaphore yet: a cap already in the table is never overwritten except by
    ``set_cap``.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        prefix: str,
        *,
        ttl_seconds: int = 600,
        initial_cap: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = DynamoTable(client, validate_table_name(table_name))
        self.prefix = validate_prefix(prefix)
        self.ttl_seconds = validate_ttl_seconds(ttl_seconds)
        self.initial_cap = None if initial_cap is None else validate_cap(initial_cap)
        self._clock = clock
        self._key = semaphore_key(self.prefix)
        self.queue = QueueItems(self.table, self.prefix, clock)
        self.waiters = WaiterCount(self.table, self.prefix, self.queue)
        self.wide = WideLeases(
            self.table, self.prefix, ttl_seconds=self.ttl_seconds, clock=clock, queue=self.queue, waiters=self.waiters
        )

    def now(self) -> int:
        return int(self._clock())

    def now_ms(self) -> int:
        """Milliseconds, for ordering waiters by their arrival."""
        return int(self._clock() * 1000)

    # -- item layout -----------------------------------------------------------------

    def _in_layout(self, narrow: Callable[[], T], wide: Callable[[], T]) -> T:
        """Run the narrow or the wide variant of an operation, as the prefix's item layout is (``item_layout``).

        The layout last seen here (else the one ``initial_cap`` would create) is tried first; each variant
        raises ``OtherLayout`` when it meets the other, and the other then runs.
        """
        seen = self._layouts_seen()
        memo = (self.table.name, self.prefix)
        wide_first = seen.get(memo, self.initial_cap is not None and wide_for(self.initial_cap))
        for attempt in range(4):
            try:
                return wide() if wide_first else narrow()
            except OtherLayout as other:
                seen[memo] = wide_first = other.wide
                if attempt:
                    pause(attempt)  # a cap change switched the layout in between: rare, and settles at once
        raise LeaseStoreUnavailable(f"the item layout of prefix {self.prefix!r} kept changing; try again")

    def _layouts_seen(self) -> dict[tuple[str, str], bool]:
        try:
            return _LAYOUT_SEEN.setdefault(self.table.client, {})
        except TypeError:  # a client that cannot be weakly referenced: no hint kept
            return {}

    # -- admission -----------------------------------------------------------------

    def acquire(self, holder: str, *, behind_waiters: bool = False) -> Acquired | MustWait:
        """Admit ``holder`` if a slot is free (or it already holds one), else say how full it is.

        ``behind_waiters`` (handoff mode): a free slot is not taken while others are queued for one.
        """
        key = holder_key(validate_holder(holder))
        return self._in_layout(
            lambda: self._acquire_narrow(holder, key, behind_waiters),
            lambda: self.wide.acquire(holder, key, behind_waiters=behind_waiters),
        )

    def _acquire_narrow(self, holder: str, key: str, behind_waiters: bool) -> Acquired | MustWait:
        seen: LeaseSnapshot | None = None
        for _ in range(MAX_ACQUIRE_ROUNDS):
            now = self.now()
            expires_at = now + self.ttl_seconds
            values: dict[str, Any] = {":lease": Entry(expires_at).packed()}
            if behind_waiters:
                values[":zero"] = {"N": "0"}
            try:
                self._write(
                    "SET #h.#k = :lease",
                    item_layout.FIFO_ADMISSION_CONDITION if behind_waiters else item_layout.ADMISSION_CONDITION,
                    {"#k": key},
                    values,
                )
                return Acquired(holder, self.prefix, expires_at)
            except ConditionFailed as failure:
                if not _is_semaphore(failure.item):
                    self._create_semaphore(failure.item)
                    continue
                seen = snapshot_from_item(self.prefix, failure.item)
            if key in seen.holders:
                continue  # it was admitted by a concurrent retry of itself: the plain write will now pass
            if behind_waiters and seen.waiting > 0:
                return MustWait(active=seen.active(now), cap=seen.cap)
            expired = seen.expired(now)[:MAX_RECLAIMS_PER_WRITE]
            if len(seen.holders) - len(expired) >= seen.cap:
                return MustWait(active=seen.active(now), cap=seen.cap)
            try:
                self._admit_over_expired(
                    key, expires_at, expired, seen.cap, len(seen.holders), now, behind_waiters=behind_waiters
                )
                return Acquired(holder, self.prefix, expires_at)
            except ConditionFailed:
                continue  # someone else changed the semaphore first: look again
        if seen is None:
            raise LeaseStoreUnavailable(f"the semaphore of prefix {self.prefix!r} could not be created; try again")
        # Lost every race in a row: answer "wait" rather than admit on a guess.
        return MustWait(active=seen.active(self.now()), cap=seen.cap)

    def _admit_over_expired(
        self,
        key: str,
        expires_at: int,
        expired: list[str],
        cap: int,
        size: int,
        now: int,
        *,
        behind_waiters: bool = False,
    ) -> None:
        """Remove expired holders and admit ``key`` in one write.

        The condition re-checks that each removed holder is still expired (a
        renewal in between makes the write fail) and that the cap and the map
        are as seen, so the result has at most ``cap`` holders.
        """
        names = {"#k": key}
        conditions = ["#cap = :cap", "size(#h) = :size"]
        values: dict[str, Any] = {}
        if behind_waiters:  # someone may have queued since the item was read: they come first
            conditions.append(NOBODY_WAITING)
            values[":zero"] = {"N": "0"}
        removals = []
        for index, expired_key in enumerate(expired):
            names[f"#e{index}"] = expired_key
            removals.append(f"#h.#e{index}")
            conditions.append(f"#h.#e{index} <= :expired")
        update = "SET #h.#k = :lease"
        if removals:
            update += " REMOVE " + ", ".join(removals)
            # Only a removal's condition uses :expired; DynamoDB refuses a value no expression uses:
            # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ExpressionAttributeValues.html
            values[":expired"] = expired_at_most(now)
        self._write(
            update,
            " AND ".join(conditions),
            names,
            {":lease": Entry(expires_at).packed(), ":cap": {"N": str(cap)}, ":size": {"N": str(size)}, **values},
        )

    def _create_semaphore(self, found: dict[str, Any] | None = None) -> None:
        """Create the prefix's semaphore with the configured cap, unless another caller just did."""
        if _is_legacy(found):
            raise LeaseStoreUnavailable(
                f"the semaphore of prefix {self.prefix!r} is in the earlier item layout: run `make bootstrap` "
                "to migrate it (nobody is admitted until then)"
            )
        if is_wide(found):
            raise OtherLayout(wide=True)
        if self.initial_cap is None:
            raise UnknownPrefix(f"prefix {self.prefix!r} has no semaphore yet and no initial cap was given")
        wide = wide_for(self.initial_cap)
        with suppress(ConditionFailed):  # another caller created it first
            self.table.call(
                "update_item",
                Key=self._key,
                UpdateExpression="SET #cap = :cap, " + ("#n = :zero" if wide else "#h = :empty"),
                ConditionExpression="attribute_not_exists(#cap)",
                ExpressionAttributeNames={"#cap": CAP, **({"#n": COUNT} if wide else {"#h": HOLDERS})},
                ExpressionAttributeValues={
                    ":cap": {"N": str(self.initial_cap)},
                    **({":zero": {"N": "0"}} if wide else {":empty": {"M": {}}}),
                },
            )
        if wide:
            raise OtherLayout(wide=True)

    # -- releasing -----------------------------------------------------------------

    def release(self, holder: str, *, exact: Entry | None = None) -> Released:
        """Give the slot back; releasing a holder that does not hold is a no-op that says so.

        With executions queued (handoff mode) the slot goes straight to the oldest of them, in the
        same transaction that takes it from ``holder``; ``handed_to`` says who is to be told. The
        slot is freed outright only by a write conditional on nobody waiting (or on the holders being
        over a lowered cap, when the queue is served only once they are below it), so it never stands
        free while someone waits. ``exact``: release only that exact lease (a slot handed to a waiter
        that could not be told), not one the holder took again by itself or renewed.
        """
        return self.release_key(holder_key(validate_holder(holder)), exact=exact)

    def release_key(self, key: str, *, exact: Entry | None = None) -> Released:
        """``release`` by holder key (``item_layout.holder_key``), as the table and the admin API name holders."""
        return self._in_layout(
            lambda: self._release(key, exact, self._free_narrow, self._hand_over),
            lambda: self._release(key, exact, self.wide.free, self.wide.hand_over),
        )

    def _release(
        self,
        key: str,
        exact: Entry | None,
        free: Callable[[str, Entry | None], bool | LeaseSnapshot],
        hand_over: Callable[[str, Entry | None, LeaseSnapshot], Admission | None],
    ) -> Released:
        """Free the slot, or hand it over while executions wait: the same rounds in either item layout."""
        stalled = 0  # rounds lost in a row without the queue moving on
        tried: str | None = None  # the place the last lost round tried to hand the slot to
        for _ in range(MAX_ROUNDS * MAX_ROUNDS):
            try:
                freed = free(key, exact)
                if isinstance(freed, bool):
                    return Released(held=freed)
                seen = freed
                admission = hand_over(key, exact, seen)
            except NotHeld:
                return Released(held=False)
            except LookAgain as again:
                # Lost to another caller. If the place it tried is no longer the head (another release served
                # it, or it was removed), the queue moved on: that is progress, and not a reason to give up,
                # however many releases compete for the head. Only rounds lost on the same place count.
                stalled = 0 if tried is not None and again.place != tried else stalled + 1
                tried = again.place
                if stalled >= MAX_ROUNDS:
                    break
                pause(stalled)
                continue
            if admission is not None:
                return Released(held=True, handed_to=admission)
            # Counted waiters that are not in the queue: reset the count (read before the queue) and try again.
            self.waiters.forget_phantoms(seen)
            stalled, tried = stalled + 1, None
            if stalled >= MAX_ROUNDS:
                break
        raise LeaseStoreUnavailable(
            f"could not release holder key {key!r} on prefix {self.prefix!r}: the queue kept changing; try again"
        )

    def _free_narrow(self, key: str, exact: Entry | None) -> bool | LeaseSnapshot:
        """Release without a hand-over: True, False if it held nothing, or (waiters to serve) what was read."""
        held, values = held_condition(exact, "#h.#k")
        try:
            self._write(
                "REMOVE #h.#k",
                f"{held} AND ({NOBODY_WAITING} OR size(#h) > #cap)",
                {"#k": key},
                {**values, ":zero": {"N": "0"}},
            )
            return True
        except ConditionFailed as failure:
            item = failure.item
            if not _is_semaphore(item) or not _holds(item, key, exact):
                return False
            return snapshot_from_item(self.prefix, item)

    def _hand_over(self, releasing: str, exact: Entry | None, seen: LeaseSnapshot) -> Admission | None:
        """Give ``releasing``'s slot to the oldest waiter in one transaction; None if the queue turned out empty."""
        waiter = self.queue.head()
        if waiter is None:
            return None
        counted = self.queue.counts(waiter)
        if waiter.key == releasing or waiter.key in seen.holders:
            # A place of someone who holds a slot (it got in by itself, or a serving was cut short): spent.
            self.waiters.remove(waiter, counted=counted)
            raise LookAgain(waiter.sort_key)
        held, held_values = held_condition(exact, "#h.#r")
        entry = Entry(self.now() + self.ttl_seconds, new_grant())
        uncounting, uncount_values = uncount(counted)
        try:
            self._transact(
                [
                    self._update_action(
                        f"REMOVE #h.#r SET #h.#w = :lease{uncounting}",
                        # A lowered cap: hand over only while the holders, the releaser included, are within
                        # it; above it the release frees the slot and admits nobody.
                        f"{held} AND attribute_not_exists(#h.#w) AND size(#h) <= #cap",
                        {"#r": releasing, "#w": waiter.key},
                        {**held_values, ":lease": entry.packed(), **uncount_values},
                    ),
                    self.queue.delete_action(waiter, with_its_token=True),
                ]
            )
        except TransactionCancelled as cancelled:
            if cancelled.reason_of(0) == CONDITION_FAILED:
                now_seen = self._inspect_narrow()
                if now_seen.holders.get(releasing) is None or (
                    exact is not None and now_seen.holders[releasing].entry != exact
                ):
                    landed = self._granted(waiter, entry, now_seen)
                    if landed is not None:  # our hand-over landed; only its answer was lost
                        return landed
                    raise NotHeld from None
            raise LookAgain(waiter.sort_key) from None  # the place was served, its token changed, a lowered cap...
        except LeaseStoreUnavailable:
            landed = self._granted(waiter, entry)  # the hand-over may have landed with its answer lost
            if landed is None:
                raise
            return landed
        self.queue.forget_index(waiter)
        return Admission(waiter, self.prefix, entry.expires_at, entry.grant)

    def admit_heads(self, seen: LeaseSnapshot) -> list[Admission]:
        """Give free slots (as ``seen``, from ``occupancy``) to the oldest waiters; [] if there is no waiter.

        The holders' map admits one per write; the wide layout up to ``wide_layout.MAX_ADMITTED_AT_ONCE``
        in one transaction. ``LookAgain`` (``races``) if the semaphore or the queue changed first.
        """
        return self._in_layout(lambda: self._admit_head_narrow(seen), lambda: self.wide.admit_heads(seen))

    def _admit_head_narrow(self, seen: LeaseSnapshot) -> list[Admission]:
        if seen.count is not None:
            raise OtherLayout(wide=True)  # ``seen`` was read in the wide layout
        waiter = self.queue.head()
        if waiter is None:
            self.waiters.forget_phantoms(seen)
            return []
        counted = self.queue.counts(waiter)
        if waiter.key in seen.holders:
            # It got in by itself meanwhile: its place in line is spent.
            self.waiters.remove(waiter, counted=counted)
            raise LookAgain
        entry = Entry(self.now() + self.ttl_seconds, new_grant())
        uncounting, uncount_values = uncount(counted)
        try:
            self._transact(
                [
                    self._update_action(
                        f"SET #h.#w = :lease{uncounting}",
                        "size(#h) < #cap AND attribute_not_exists(#h.#w)",
                        {"#w": waiter.key},
                        {":lease": entry.packed(), **uncount_values},
                    ),
                    self.queue.delete_action(waiter, with_its_token=True),
                ]
            )
        except TransactionCancelled:
            landed = self._granted(waiter, entry)
            if landed is not None:  # it was ours: the answer was lost, the grant was not
                return [landed]
            raise LookAgain from None  # someone else changed the semaphore or the queue first
        except LeaseStoreUnavailable:
            landed = self._granted(waiter, entry)
            if landed is None:
                raise
            return [landed]
        self.queue.forget_index(waiter)
        return [Admission(waiter, self.prefix, entry.expires_at, entry.grant)]

    def _granted(self, waiter: Waiter, entry: Entry, seen: LeaseSnapshot | None = None) -> Admission | None:
        """``waiter``'s admission if it holds exactly ``entry``: our hand-over landed, its answer was lost."""
        seen = seen or self._inspect_narrow()
        lease = seen.holders.get(waiter.key)
        if lease is None or lease.entry != entry:
            return None
        self.queue.forget_index(waiter)
        return Admission(waiter, self.prefix, entry.expires_at, entry.grant)

    def count_waiter(self, waiter: Waiter) -> LeaseSnapshot | None:
        """Count a new place in ``waiting``, unless its holder holds a slot (it must then not wait): None.

        Returns the prefix as the count left it (the write's ``ALL_NEW``, no extra read), holders counted
        rather than listed in the wide layout: a fill of free slots that starts from it sees every release
        that landed before the count, and every later release sees the count and hands over itself.
        """
        try:
            counted = self._write(
                "ADD #waiting :one, #enqueued :one",
                "attribute_exists(#cap) AND attribute_not_exists(#h.#k)",
                {"#k": waiter.key},
                {":one": {"N": "1"}},
                returning="ALL_NEW",
            )
        except ConditionFailed:
            return None
        assert counted is not None
        if not is_wide(counted):
            return snapshot_from_item(self.prefix, counted)
        if self.wide.entry(waiter.key) is not None:
            # The wide layout cannot check the holder in the same write: it holds (a hand-over may have taken
            # its place meanwhile), so the count is taken back and the caller deletes the place if left.
            self._take_back_count(counted)
            return None
        return self.wide.snapshot(counted, with_holders=False)

    def _take_back_count(self, counted: dict[str, Any]) -> None:
        """Undo a count just made, only while the count is still as that write left it.

        A reset of a count left above an empty queue (``forget_phantom_waiters``) or a retried answer could
        otherwise take it below the queue, where a waiter would be forgotten. If anything changed, the
        count stays one too high: the allowed direction, reset when the queue is next found empty.
        """
        with suppress(ConditionFailed):
            self.table.call(
                "update_item",
                Key=self._key,
                UpdateExpression="ADD #waiting :minus_one",
                ConditionExpression="#waiting = :counted AND #enqueued = :enqueued",
                ExpressionAttributeNames={"#waiting": WAITING, "#enqueued": ENQUEUED},
                ExpressionAttributeValues={
                    ":minus_one": {"N": "-1"},
                    ":counted": {"N": str(counted[WAITING])},
                    ":enqueued": {"N": str(counted[ENQUEUED])},
                },
            )

    def remove_waiter(self, waiter: Waiter, *, counted: bool = True) -> bool:
        """Take a waiter out of the queue (``WaiterCount.remove``): its execution ended, or it got a slot by itself."""
        return self.waiters.remove(waiter, counted=counted)

    def forget_phantom_waiters(self, seen: LeaseSnapshot) -> None:
        """Reset a ``waiting`` count left over above an empty queue (``WaiterCount.forget_phantoms``)."""
        self.waiters.forget_phantoms(seen)

    def release_exact(self, key: str, exact: Entry) -> bool:
        """Remove the holder with this key only if its lease is exactly ``exact`` (cleanup judged that lease)."""
        return self._in_layout(
            lambda: self._succeeds("REMOVE #h.#k", "#h.#k = :exact", {"#k": key}, {":exact": exact.packed()}),
            lambda: self.wide.release_exact(key, exact),
        )

    def expire_by(self, key: str, deadline: int) -> bool:
        """Bring a lease's expiry forward to ``deadline`` (never later). Returns whether the expiry changed.

        Cleanup of an aborted execution uses this instead of a release: a task it started may still
        be running, so the slot stays taken until that task cannot run any more, and the sweeper
        reclaims it then.
        """
        values = {":deadline": Entry(deadline).packed(), ":later": expired_at_most(deadline)}
        return self._in_layout(
            lambda: self._succeeds("SET #h.#k = :deadline", "#h.#k > :later", {"#k": key}, values),
            lambda: self.wide.write_entry(key, "SET #e = :deadline", "#e > :later", values),
        )

    # -- holders -------------------------------------------------------------------

    def check_held(self, holder: str, *, for_seconds: float = 0) -> HeldLease:
        """The holder's lease, read strongly consistently; ``LeaseLost`` unless it holds one that is still live
        ``for_seconds`` from now.

        A task checks this before its work, with ``for_seconds`` the most it can run: whatever path led
        to it (a retry, a redrive, a timeout), it then works only under a lease that outlives it. An
        expired lease still counts against the cap until reclaimed, but nothing may start under it.
        """
        holder = validate_holder(holder)
        key = holder_key(holder)
        entry = self._in_layout(lambda: self._entry_narrow(key), lambda: self._entry_wide(key))
        if entry is None or entry.expires_at <= self.now():
            raise LeaseLost(
                f"holder {holder!r} holds no live lease on prefix {self.prefix!r}: it was never acquired in this "
                "run of the execution, or it was released, or it expired"
            )
        if entry.expires_at < self._clock() + for_seconds:
            raise LeaseLost(
                f"the lease of {holder!r} on prefix {self.prefix!r} expires at {entry.expires_at}, before the task "
                f"could end ({for_seconds:.0f} s from now): acquire it again, which renews it, before the work"
            )
        return HeldLease(expires_at=entry.expires_at, grant=entry.grant)

    def _entry_narrow(self, key: str) -> Entry | None:
        response = self.table.call(
            "get_item",
            Key=self._key,
            ConsistentRead=True,
            ProjectionExpression="#h.#k, #n",
            ExpressionAttributeNames={"#h": HOLDERS, "#k": key, "#n": COUNT},
        )
        item = plain_item(response.get("Item")) or {}
        if COUNT in item:
            raise OtherLayout(wide=True)
        value = (item.get(HOLDERS) or {}).get(key)
        return None if value is None else Entry.unpack(value)

    def _entry_wide(self, key: str) -> Entry | None:
        entry = self.wide.entry(key)
        if entry is None:
            self.wide.read()  # holds nothing: in this layout, which the read confirms
        return entry

    def renew(self, holder: str) -> Renewed:
        """Push the holder's expiry to now + TTL; ``LeaseLost`` if it no longer holds."""
        holder = validate_holder(holder)
        expires_at = self.now() + self.ttl_seconds
        key, lease = holder_key(holder), {":lease": Entry(expires_at).packed()}
        renewed = self._in_layout(
            lambda: self._succeeds("SET #h.#k = :lease", "attribute_exists(#h.#k)", {"#k": key}, lease),
            lambda: self.wide.write_entry(key, "SET #e = :lease", "attribute_exists(#e)", lease),
        )
        if not renewed:
            raise LeaseLost(
                f"holder {holder!r} holds no lease on prefix {self.prefix!r}: "
                "it was released, or it expired and was reclaimed"
            )
        return Renewed(expires_at)

    def reclaim_expired(self) -> list[str]:
        """Remove every holder whose lease has expired; a holder renewed meanwhile stays. Returns their keys."""
        try:
            snapshot = self.inspect()
        except UnknownPrefix:
            return []
        return self.reclaim(snapshot.expired(self.now()))

    def reclaim(self, keys: list[str]) -> list[str]:
        """Remove each holder (by key) that is still expired now; returns those removed."""
        return self._in_layout(lambda: self._reclaim_narrow(keys), lambda: self.wide.reclaim(keys))

    def _reclaim_narrow(self, keys: list[str]) -> list[str]:
        now = self.now()
        reclaimed: list[str] = []
        for key in keys:
            try:
                self._write("REMOVE #h.#k", "#h.#k <= :expired", {"#k": key}, {":expired": expired_at_most(now)})
            except ConditionFailed:
                continue  # renewed or released since it was seen
            reclaimed.append(key)
        return reclaimed

    # -- cap and inspection ---------------------------------------------------------

    def set_cap(self, cap: int, *, create: bool = True) -> CapChange:
        """Change the cap live. Lowering it to or below the holder count admits nobody until they drain.

        No newcomer and no waiter is admitted while the holders number the cap or more: a release
        then frees its slot, and the queue is served again only below the cap.

        With ``create=False`` a prefix that has no semaphore yet is ``UnknownPrefix`` instead of created.
        """
        cap = validate_cap(cap)
        # In the layout this cap takes (``item_layout.wide_for``) when the prefix has no holders (or no
        # semaphore yet); with holders it keeps its layout, and only the cap changes.
        if wide_for(cap):
            update = "SET #cap = :cap, #n = if_not_exists(#n, :zero) REMOVE #h"
            idle = "(attribute_not_exists(#h) OR #h = :empty)"
        else:
            update = "SET #cap = :cap, #h = if_not_exists(#h, :empty) REMOVE #n"
            idle = "(attribute_not_exists(#n) OR #n = :zero)"
        exists = "" if create else " AND attribute_exists(#cap)"
        attempts = [
            (update, f"attribute_not_exists(#legacy) AND {idle}{exists}"),
            ("SET #cap = :cap", "attribute_not_exists(#legacy) AND attribute_exists(#cap)"),
        ]
        for update, condition in attempts:
            values = {":cap": {"N": str(cap)}, ":zero": {"N": "0"}, ":empty": {"M": {}}}
            request: dict[str, Any] = {
                "Key": self._key,
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": used_names(NAMES, update, condition),
                "ExpressionAttributeValues": {
                    name: value for name, value in values.items() if name in update + condition
                },
                "ReturnValues": "ALL_OLD",  # UPDATED_OLD may omit an attribute set to its old value
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            try:
                response = self.table.call("update_item", **request)
            except ConditionFailed as failure:
                if _is_legacy(failure.item):
                    self._create_semaphore(failure.item)  # raises: say how to migrate
                if failure.item is None:
                    break
                continue  # it has holders in the other layout: keep that layout
            old = response.get("Attributes", {}).get(CAP)
            self._layouts_seen().pop((self.table.name, self.prefix), None)
            return CapChange(self.prefix, None if old is None else int(old["N"]), cap)
        raise UnknownPrefix(f"prefix {self.prefix!r} has no semaphore in table {self.table.name!r}")

    def configure_timings(self, *, task_seconds: int, lease_seconds: int) -> None:
        """Record, at deploy, how long a task under this prefix's lease can run and how long a lease lasts.

        Cleanup of an aborted execution waits ``task_seconds``; a slot handed to a waiter by the
        platform app (which does not know the workload's TTL) lasts ``lease_seconds``.
        """
        task_seconds = validate_ttl_seconds(task_seconds)
        lease_seconds = validate_ttl_seconds(lease_seconds)
        try:
            self.table.call(
                "update_item",
                Key=self._key,
                UpdateExpression="SET #task = :task, #lease = :lease",
                ConditionExpression="attribute_exists(#cap)",
                ExpressionAttributeNames={"#task": TASK_SECONDS, "#lease": LEASE_SECONDS, "#cap": CAP},
                ExpressionAttributeValues={":task": {"N": str(task_seconds)}, ":lease": {"N": str(lease_seconds)}},
            )
        except ConditionFailed:
            raise UnknownPrefix(f"prefix {self.prefix!r} has no semaphore in table {self.table.name!r}") from None

    def looks_full(self) -> MustWait | None:
        """An eventually consistent read (half a read unit per 4 KB): ``MustWait`` if the prefix looks full.

        A poll that would fail costs a write unit when it is a failed conditional write, and thousands
        of executions polling one prefix would spend the partition's writes on failures and starve the
        releases. A stale answer is safe both ways: "full" only means one more wait, and "free" is
        followed by the conditional write, which decides.
        """
        return self._in_layout(self._looks_full_narrow, self.wide.looks_full)

    def _looks_full_narrow(self) -> MustWait | None:
        response = self.table.call("get_item", Key=self._key, ConsistentRead=False)
        item = plain_item(response.get("Item"))
        if is_wide(item):
            raise OtherLayout(wide=True)
        if not _is_semaphore(item):
            return None
        seen = snapshot_from_item(self.prefix, item)
        now = self.now()
        if len(seen.holders) - len(seen.expired(now)) >= seen.cap:
            return MustWait(active=seen.active(now), cap=seen.cap)
        return None

    def inspect(self) -> LeaseSnapshot:
        """A strongly consistent read of the cap and the holders; ``UnknownPrefix`` if never used.

        In the wide layout this Queries every holder item: for operators, cleanup and the sweeper, never
        on an admission's path (``occupancy``).
        """
        return self._read(with_holders=True)

    def occupancy(self) -> LeaseSnapshot:
        """``inspect``, except that a wide-layout prefix's holders are counted (``LeaseSnapshot.count``), not listed."""
        return self._read(with_holders=False)

    def _read(self, *, with_holders: bool, narrow_only: bool = False) -> LeaseSnapshot:
        response = self.table.call("get_item", Key=self._key, ConsistentRead=True)
        item = plain_item(response.get("Item"))
        if is_wide(item) and narrow_only:
            raise OtherLayout(wide=True)
        if is_wide(item):
            assert item is not None
            return self.wide.snapshot(item, with_holders=with_holders)
        if not _is_semaphore(item):
            if _is_legacy(item):
                self._create_semaphore(item)  # raises: say how to migrate
            raise UnknownPrefix(f"prefix {self.prefix!r} has no semaphore in table {self.table.name!r}")
        return snapshot_from_item(self.prefix, item)

    def _inspect_narrow(self) -> LeaseSnapshot:
        return self._read(with_holders=True, narrow_only=True)

    # -- plumbing --------------------------------------------------------------------

    def _write(
        self,
        update: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
        *,
        returning: str | None = None,
    ) -> dict[str, Any] | None:
        """One conditional write of the semaphore item (narrow layout); ``OtherLayout`` if it fails on a wide one.

        ``returning``: the ``ReturnValues`` wanted, given back as a plain item.
        """
        request: dict[str, Any] = {
            "Key": self._key,
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": used_names({**NAMES, **names}, update, condition),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        values = {name: value for name, value in values.items() if name in update or name in condition}
        if values:
            request["ExpressionAttributeValues"] = values
        if returning is not None:
            request["ReturnValues"] = returning
        try:
            response = self.table.call("update_item", **request)
        except ConditionFailed as failure:
            if is_wide(failure.item):
                raise OtherLayout(wide=True) from None
            raise
        return plain_item(response.get("Attributes"))

    def _succeeds(self, update: str, condition: str, names: dict[str, str], values: dict[str, Any]) -> bool:
        """``_write``: False if its condition failed."""
        try:
            self._write(update, condition, names, values)
        except ConditionFailed:
            return False
        return True

    def _update_action(
        self, update: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table.name,
                "Key": self._key,
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": used_names({**NAMES, **names}, update, condition),
                "ExpressionAttributeValues": values,
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> None:
        self.table.call("transact_write_items", TransactItems=items)
