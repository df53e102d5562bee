"""A per-prefix counting semaphore on the shared lease table.

Layout: one item per prefix, ``pk = "<prefix>#semaphore"``, ``sk = "semaphore"``,
holding ``cap`` (number) and ``holders`` (map of holder id -> ``{"a": acquired at,
"e": expires at}``, epoch seconds). Keeping every holder in one item is what makes
admission a single conditional ``UpdateItem``:

    SET holders.#holder = {a: now, e: now + ttl}
    IF attribute_exists(holders.#holder) OR size(holders) < cap

DynamoDB applies a conditional write to one item atomically, so however many
callers race, the map never grows past ``cap``: that is the whole cap invariant.
The holder's own key in the condition makes a retried acquire idempotent.
Expired holders still count against the cap until a conditional write removes
them (only if still expired), so an expired lease can never be double-booked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

from lease_core.errors import LeaseLost, LeaseStoreUnavailable, UnknownPrefix
from lease_core.lease_entry import lease_value
from lease_core.store import ConditionFailed, DynamoTable, plain_item, used_names
from lease_core.validation import (
    validate_cap,
    validate_holder,
    validate_prefix,
    validate_table_name,
    validate_ttl_seconds,
)

if TYPE_CHECKING:
    from lease_core.waiting_room import Admission

SEMAPHORE_SORT_KEY = "semaphore"
# Bounds one reclaim write's expression size (DynamoDB allows 4 KB per expression).
MAX_RECLAIMS_PER_WRITE = 40
# Rounds of read-and-retry after a lost race before answering "wait" (fail closed).
MAX_ACQUIRE_ROUNDS = 5

_NAMES = {
    "#holders": "holders",
    "#cap": "cap",
    "#expires": "e",
    "#acquired": "a",
    "#waiting": "waiting",
    "#grant": "g",
}
# The admission condition. The attribute_exists(#holders) guard changes nothing on
# DynamoDB (a missing map fails the size comparison anyway) but keeps moto, which
# raises on size() of a missing attribute, answering a clean condition failure.
ADMISSION_CONDITION = "attribute_exists(#holders.#holder) OR (attribute_exists(#holders) AND size(#holders) < #cap)"
# Handoff mode: a newcomer may not take a free slot while others wait in the queue (no overtaking).
NOBODY_WAITING = "(attribute_not_exists(#waiting) OR #waiting <= :zero)"
FIFO_ADMISSION_CONDITION = (
    f"attribute_exists(#holders.#holder) OR (attribute_exists(#holders) AND size(#holders) < #cap AND {NOBODY_WAITING})"
)


def semaphore_key(prefix: str) -> dict[str, dict[str, str]]:
    """The key of a prefix's semaphore item; its ``pk`` starts with ``<prefix>#``."""
    return {"pk": {"S": f"{prefix}#semaphore"}, "sk": {"S": SEMAPHORE_SORT_KEY}}


@dataclass(frozen=True)
class Acquired:
    holder: str
    prefix: str
    expires_at: int

    def as_event(self) -> dict[str, Any]:
        return {"status": "acquired", "holder": self.holder, "prefix": self.prefix, "expires_at": self.expires_at}


@dataclass(frozen=True)
class MustWait:
    active: int
    cap: int
    waited: int | None = None  # poll mode: whole seconds the execution has waited (lease_core.wait_time)

    def as_event(self) -> dict[str, Any]:
        answer = {"status": "wait", "active": self.active, "cap": self.cap}
        return answer if self.waited is None else {**answer, "waited": self.waited}


@dataclass(frozen=True)
class Released:
    held: bool
    # Handoff mode: the waiter the slot went to, still to be told (SendTaskSuccess).
    handed_to: Admission | None = None

    def as_event(self) -> dict[str, Any]:
        return {"status": "released" if self.held else "not_held"}


@dataclass(frozen=True)
class Renewed:
    expires_at: int

    def as_event(self) -> dict[str, Any]:
        return {"status": "renewed", "expires_at": self.expires_at}


@dataclass(frozen=True)
class CapChange:
    prefix: str
    old: int | None
    new: int


@dataclass(frozen=True)
class HeldLease:
    acquired_at: int
    expires_at: int
    grant: str | None = None  # set on a slot handed to a waiter: the random id of that hand-over


@dataclass(frozen=True)
class LeaseSnapshot:
    """A consistent read of one prefix: its cap and every holder with its lease."""

    prefix: str
    cap: int
    holders: dict[str, HeldLease] = field(default_factory=dict)
    # How long a task started under a lease of this prefix can still run (the Process step's timeout);
    # None until a deploy writes it. Cleanup of an aborted execution keeps its leases that long.
    task_seconds: int | None = None
    waiting: int = 0  # executions queued for a slot (handoff mode)
    enqueued: int = 0  # queueings ever made (handoff mode): tells a changed queue from an unchanged one
    lease_seconds: int | None = None  # the workload's TTL, written at deploy

    def expired(self, now: int) -> list[str]:
        return sorted(holder for holder, lease in self.holders.items() if lease.expires_at <= now)

    def active(self, now: int) -> int:
        return sum(1 for lease in self.holders.values() if lease.expires_at > now)

    def expiries(self) -> dict[str, int]:
        return {holder: lease.expires_at for holder, lease in self.holders.items()}


def held_condition(grant: str | None, holder: str = "#holder") -> tuple[str, dict[str, Any]]:
    """The condition that ``holder`` (a name placeholder) holds a lease, under ``grant`` if one is given."""
    if grant is None:
        return f"attribute_exists(#holders.{holder})", {}
    return f"#holders.{holder}.#grant = :grant", {":grant": {"S": grant}}


def _holds(item: dict[str, Any], holder: str, grant: str | None) -> bool:
    lease = (item.get("holders") or {}).get(holder)
    return lease is not None and (grant is None or lease.get("g") == grant)


def _is_semaphore(item: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    return item is not None and "cap" in item and "holders" in item


def snapshot_from_item(prefix: str, item: dict[str, Any]) -> LeaseSnapshot:
    holders = {
        str(holder): HeldLease(
            acquired_at=int(lease["a"]),
            expires_at=int(lease["e"]),
            grant=None if lease.get("g") is None else str(lease["g"]),
        )
        for holder, lease in (item.get("holders") or {}).items()
    }
    task_seconds = item.get("task_seconds")
    return LeaseSnapshot(
        prefix=prefix,
        cap=int(item["cap"]),
        holders=holders,
        task_seconds=None if task_seconds is None else int(task_seconds),
        waiting=int(item.get("waiting", 0)),
        enqueued=int(item.get("enqueued", 0)),
        lease_seconds=None if item.get("lease_seconds") is None else int(item["lease_seconds"]),
    )


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

    def now(self) -> int:
        return int(self._clock())

    def now_ms(self) -> int:
        """Milliseconds, for ordering waiters by their arrival."""
        return int(self._clock() * 1000)

    # -- admission -----------------------------------------------------------------

    def acquire(self, holder: str, *, behind_waiters: bool = False) -> Acquired | MustWait:
        """Admit ``holder`` if a slot is free (or it already holds one), else say how full it is.

        ``behind_waiters`` (handoff mode): a free slot is not taken while others are queued for one.
        """
        holder = validate_holder(holder)
        seen: LeaseSnapshot | None = None
        for _ in range(MAX_ACQUIRE_ROUNDS):
            now = self.now()
            expires_at = now + self.ttl_seconds
            values: dict[str, Any] = {":lease": lease_value(now, expires_at)}
            if behind_waiters:
                values[":zero"] = {"N": "0"}
            try:
                self._write(
                    "SET #holders.#holder = :lease",
                    FIFO_ADMISSION_CONDITION if behind_waiters else ADMISSION_CONDITION,
                    {"#holder": holder},
                    values,
                )
                return Acquired(holder, self.prefix, expires_at)
            except ConditionFailed as failure:
                if not _is_semaphore(failure.item):
                    self._create_semaphore()
                    continue
                seen = snapshot_from_item(self.prefix, failure.item)
            if holder in seen.holders:
                continue  # it was admitted by a concurrent retry of itself: the plain write will now pass
            if behind_waiters and seen.waiting > 0:
                return MustWait(active=seen.active(now), cap=seen.cap)
            expired = seen.expired(now)[:MAX_RECLAIMS_PER_WRITE]
            if len(seen.holders) - len(expired) >= seen.cap:
                return MustWait(active=seen.active(now), cap=seen.cap)
            try:
                self._admit_over_expired(
                    holder, expires_at, expired, seen.cap, len(seen.holders), now, behind_waiters=behind_waiters
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
        holder: str,
        expires_at: int,
        expired: list[str],
        cap: int,
        size: int,
        now: int,
        *,
        behind_waiters: bool = False,
    ) -> None:
        """Remove expired holders and admit ``holder`` in one write.

        The condition re-checks that each removed holder is still expired (a
        renewal in between makes the write fail) and that the cap and the map
        are as seen, so the result has at most ``cap`` holders.
        """
        names = {"#holder": holder}
        conditions = ["#cap = :cap", "size(#holders) = :size"]
        values: dict[str, Any] = {}
        if behind_waiters:  # someone may have queued since the item was read: they come first
            conditions.append(NOBODY_WAITING)
            values[":zero"] = {"N": "0"}
        removals = []
        for index, expired_holder in enumerate(expired):
            names[f"#e{index}"] = expired_holder
            removals.append(f"#holders.#e{index}")
            conditions.append(f"#holders.#e{index}.#expires <= :now")
        update = "SET #holders.#holder = :lease"
        if removals:
            update += " REMOVE " + ", ".join(removals)
            # Only a removal's condition uses :now; DynamoDB refuses a value no expression uses (ValidationException):
            # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ExpressionAttributeValues.html
            values[":now"] = {"N": str(now)}
        self._write(
            update,
            " AND ".join(conditions),
            names,
            {
                ":lease": lease_value(now, expires_at),
                ":cap": {"N": str(cap)},
                ":size": {"N": str(size)},
                **values,
            },
        )

    def _create_semaphore(self) -> None:
        """Create the prefix's semaphore with the configured cap, unless another caller just did."""
        if self.initial_cap is None:
            raise UnknownPrefix(f"prefix {self.prefix!r} has no semaphore yet and no initial cap was given")
        self.table.call(
            "update_item",
            Key=self._key,
            UpdateExpression="SET #cap = if_not_exists(#cap, :cap), #holders = if_not_exists(#holders, :empty)",
            ExpressionAttributeNames={"#holders": "holders", "#cap": "cap"},
            ExpressionAttributeValues={":cap": {"N": str(self.initial_cap)}, ":empty": {"M": {}}},
        )

    # -- holders -------------------------------------------------------------------

    def release(self, holder: str, *, grant: str | None = None) -> Released:
        """Give the slot back; releasing a holder that does not hold is a no-op that says so.

        With executions queued (handoff mode) the slot goes straight to the oldest of them, in the
        same transaction that takes it from ``holder``; ``handed_to`` says who is to be told. The
        slot is freed outright only by a write conditional on nobody waiting, so it never stands
        free while someone waits. ``grant``: release only the slot handed over under that grant
        (see ``lease_entry``), not a lease the holder took again by itself.
        """
        from lease_core.waiting_room import MAX_ROUNDS, WaitingRoom, _NotHeld, _OverCap

        holder = validate_holder(holder)
        held, values = held_condition(grant)
        for _ in range(MAX_ROUNDS):
            try:
                # Freed outright when nobody waits, or when the holders are over a lowered cap: the queue
                # is served only below the cap, so such a release hands nothing over.
                self._write(
                    "REMOVE #holders.#holder",
                    f"{held} AND ({NOBODY_WAITING} OR size(#holders) > #cap)",
                    {"#holder": holder},
                    {**values, ":zero": {"N": "0"}},
                )
                return Released(held=True)
            except ConditionFailed as failure:
                seen = failure.item
                if not _is_semaphore(seen) or not _holds(seen, holder, grant):
                    return Released(held=False)
            room = WaitingRoom(self)
            try:
                admission = room.hand_over(holder, grant=grant)
            except _NotHeld:
                return Released(held=False)
            except _OverCap:
                continue  # the cap was lowered meanwhile: free the slot outright
            if admission is not None:
                return Released(held=True, handed_to=admission)
            # Counted waiters that are not in the queue: reset the count (read before the queue) and try again.
            room._forget_phantom_waiters(snapshot_from_item(self.prefix, seen))
        raise LeaseStoreUnavailable(
            f"could not release {holder!r} on prefix {self.prefix!r}: the queue kept changing; try again"
        )

    def release_if_acquired_by(self, holder: str, latest: int) -> bool:
        """Release ``holder`` only if its lease was acquired at or before ``latest`` (epoch seconds).

        Cleanup uses this: a lease acquired later belongs to a newer attempt of the same
        holder (a redriven execution) and must stay. Returns whether a lease was released.
        """
        holder = validate_holder(holder)
        try:
            self._write(
                "REMOVE #holders.#holder",
                "#holders.#holder.#acquired <= :latest",
                {"#holder": holder},
                {":latest": {"N": str(int(latest))}},
            )
        except ConditionFailed:
            return False
        return True

    def expire_by(self, holder: str, deadline: int, *, acquired_by: int) -> bool:
        """Bring a lease's expiry forward to ``deadline`` (never later), if it was acquired by ``acquired_by``.

        Cleanup of an aborted execution uses this instead of a release: a task it started may still
        be running, so the slot stays taken until that task cannot run any more, and the sweeper
        reclaims it then. Returns whether the expiry changed.
        """
        holder = validate_holder(holder)
        try:
            self._write(
                "SET #holders.#holder.#expires = :deadline",
                "#holders.#holder.#acquired <= :acquired_by AND #holders.#holder.#expires > :deadline",
                {"#holder": holder},
                {":deadline": {"N": str(int(deadline))}, ":acquired_by": {"N": str(int(acquired_by))}},
            )
        except ConditionFailed:
            return False
        return True

    def check_held(self, holder: str, *, for_seconds: float = 0) -> HeldLease:
        """The holder's lease, read strongly consistently; ``LeaseLost`` unless it holds one that is still live
        ``for_seconds`` from now.

        A task checks this before its work, with ``for_seconds`` the most it can run: whatever path led
        to it (a retry, a redrive, a timeout), it then works only under a lease that outlives it. An
        expired lease still counts against the cap until reclaimed, but nothing may start under it.
        """
        holder = validate_holder(holder)
        response = self.table.call(
            "get_item",
            Key=self._key,
            ConsistentRead=True,
            ProjectionExpression="#holders.#holder",
            ExpressionAttributeNames={"#holders": "holders", "#holder": holder},
        )
        item = plain_item(response.get("Item")) or {}
        lease = (item.get("holders") or {}).get(holder)
        if lease is None or int(lease["e"]) <= self.now():
            raise LeaseLost(
                f"holder {holder!r} holds no live lease on prefix {self.prefix!r}: it was never acquired in this "
                "run of the execution, or it was released, or it expired"
            )
        if int(lease["e"]) < self._clock() + for_seconds:
            raise LeaseLost(
                f"the lease of {holder!r} on prefix {self.prefix!r} expires at {int(lease['e'])}, before the task "
                f"could end ({for_seconds:.0f} s from now): acquire it again, which renews it, before the work"
            )
        return HeldLease(acquired_at=int(lease["a"]), expires_at=int(lease["e"]), grant=lease.get("g"))

    def renew(self, holder: str) -> Renewed:
        """Push the holder's expiry to now + TTL; ``LeaseLost`` if it no longer holds."""
        holder = validate_holder(holder)
        expires_at = self.now() + self.ttl_seconds
        try:
            self._write(
                "SET #holders.#holder.#expires = :expires_at",
                "attribute_exists(#holders.#holder)",
                {"#holder": holder},
                {":expires_at": {"N": str(expires_at)}},
            )
        except ConditionFailed as failure:
            raise LeaseLost(
                f"holder {holder!r} holds no lease on prefix {self.prefix!r}: "
                "it was released, or it expired and was reclaimed"
            ) from failure
        return Renewed(expires_at)

    def reclaim_expired(self) -> list[str]:
        """Remove every holder whose lease has expired; a holder renewed meanwhile stays."""
        try:
            snapshot = self.inspect()
        except UnknownPrefix:
            return []
        return self.reclaim(snapshot.expired(self.now()))

    def reclaim(self, holders: list[str]) -> list[str]:
        """Remove each of ``holders`` that is still expired now; returns those removed."""
        now = self.now()
        reclaimed: list[str] = []
        for holder in holders:
            try:
                self._write(
                    "REMOVE #holders.#holder",
                    "#holders.#holder.#expires <= :now",
                    {"#holder": holder},
                    {":now": {"N": str(now)}},
                )
            except ConditionFailed:
                continue  # renewed or released since it was seen
            reclaimed.append(holder)
        return reclaimed

    # -- cap and inspection ---------------------------------------------------------

    def set_cap(self, cap: int, *, create: bool = True) -> CapChange:
        """Change the cap live. Lowering it to or below the holder count admits nobody until they drain.

        No newcomer and no waiter is admitted while the holders number the cap or more: a release
        then frees its slot, and the queue is served again only below the cap.

        With ``create=False`` a prefix that has no semaphore yet is ``UnknownPrefix`` instead of created.
        """
        cap = validate_cap(cap)
        request: dict[str, Any] = {
            "Key": self._key,
            "UpdateExpression": "SET #cap = :cap, #holders = if_not_exists(#holders, :empty)",
            "ExpressionAttributeNames": {"#holders": "holders", "#cap": "cap"},
            "ExpressionAttributeValues": {":cap": {"N": str(cap)}, ":empty": {"M": {}}},
            "ReturnValues": "ALL_OLD",  # UPDATED_OLD may omit an attribute set to its old value
        }
        if not create:
            request["ConditionExpression"] = "attribute_exists(#cap)"
        try:
            response = self.table.call("update_item", **request)
        except ConditionFailed:
            raise UnknownPrefix(f"prefix {self.prefix!r} has no semaphore in table {self.table.name!r}") from None
        old = response.get("Attributes", {}).get("cap")
        return CapChange(self.prefix, None if old is None else int(old["N"]), cap)

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
                ExpressionAttributeNames={"#task": "task_seconds", "#lease": "lease_seconds", "#cap": "cap"},
                ExpressionAttributeValues={":task": {"N": str(task_seconds)}, ":lease": {"N": str(lease_seconds)}},
            )
        except ConditionFailed:
            raise UnknownPrefix(f"prefix {self.prefix!r} has no semaphore in table {self.table.name!r}") from None

    def inspect(self) -> LeaseSnapshot:
        """A strongly consistent read of the cap and the holders; ``UnknownPrefix`` if never used."""
        response = self.table.call("get_item", Key=self._key, ConsistentRead=True)
        item = plain_item(response.get("Item"))
        if not _is_semaphore(item):
            raise UnknownPrefix(f"prefix {self.prefix!r} has no semaphore in table {self.table.name!r}")
        return snapshot_from_item(self.prefix, item)

    # -- plumbing --------------------------------------------------------------------

    def _write(self, update: str, condition: str, names: dict[str, str], values: dict[str, Any]) -> None:
        request: dict[str, Any] = {
            "Key": self._key,
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": used_names({**_NAMES, **names}, update, condition),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if values:
            request["ExpressionAttributeValues"] = values
        self.table.call("update_item", **request)
