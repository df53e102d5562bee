"""Handoff mode: the executions waiting for a slot of a prefix, in arrival order, served first-come first-served.

Each waiter has a place (``queue_items``) holding the task token of its waiting ``.waitForTaskToken``
task; the semaphore item counts the places in ``waiting``. A slot freed by a release never stands free
while someone waits, one freed by expiry, cleanup or a raised cap only until the next fill, and nobody
overtakes:

- a newcomer may take a free slot only when ``waiting`` is 0 (the admission condition says so),
  otherwise it queues;
- a release that sees ``waiting > 0`` gives its slot straight to the oldest waiter
  (``LeaseSemaphore.release``), in one transaction that moves the lease and deletes the place;
- queueing is followed by ``fill_free_slots``, which gives every free slot to the heads of the queue: a
  release that landed between a newcomer's failed admission and its queueing is caught there (no lost
  wakeup); reclaim, the sweeper and a cap change fill too.

Queueing writes the place first and counts it after, with plain writes rather than one transaction on
the semaphore item: a burst queues thousands of executions a minute, and transactions that overlap on
one item are cancelled (TransactionConflict,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling).
A place is never counted before it exists, so the count can only run ahead of the queue, never behind
it: a retried queueing that finds its place uncounted counts it then (the index item remembers), one
whose count landed with its answer lost counts it twice, and a count above an empty queue is reset
(``forget_phantom_waiters``). A hand-over lowers the count only for a place the index marks as counted.
"""

from __future__ import annotations

from lease_core.item_layout import holder_key, run_key
from lease_core.outcomes import Admission, LeaseSnapshot
from lease_core.queue_items import Waiter
from lease_core.races import MAX_ROUNDS, LookAgain, pause
from lease_core.semaphore import LeaseSemaphore

__all__ = ["Admission", "Waiter", "WaitingRoom"]


class WaitingRoom:
    def __init__(self, semaphore: LeaseSemaphore) -> None:
        self.semaphore = semaphore
        self.queue = semaphore.queue

    # -- reading ---------------------------------------------------------------------------------

    def waiters(self) -> list[Waiter]:
        """The whole queue, oldest first (strongly consistent): for operators and tests, never on a lease path."""
        return self.queue.all_waiters()

    def head(self) -> Waiter | None:
        return self.queue.head()

    def find(self, holder: str) -> Waiter | None:
        """The holder's place, through its index item: two GetItems, whatever the queue's length."""
        place = self.queue.place(holder_key(holder))
        if place is None:
            return None
        waiter = self.queue.waiter_at(place.sort_key)
        return waiter if waiter is not None and waiter.holder == holder else None

    def places_of_run(self, execution_arn: str, run: int) -> list[Waiter]:
        """The places of every holder of that run (its Map iterations too): cleanup of a stopped run."""
        found = []
        for place in self.queue.places_of(run_key(execution_arn, run)):
            waiter = self.queue.waiter_at(place.sort_key)
            if waiter is not None:
                found.append(waiter)
        return found

    # -- writing ---------------------------------------------------------------------------------

    def enqueue(self, holder: str, token: str) -> Waiter | None:
        """Queue ``holder`` with its task token; a holder already queued keeps its place and gets the new token.

        None if it must look again: it holds a slot (handed to it meanwhile), so that an execution is
        never both a holder and a waiter.
        """
        queued = self.join(holder, token)
        return None if queued is None else queued[0]

    def join(self, holder: str, token: str) -> tuple[Waiter, LeaseSnapshot | None] | None:
        """``enqueue``, with the prefix as a new place's count left it (None for a place already counted): the
        view ``fill_free_slots`` may start from right after, one read fewer per queueing."""
        place = self.queue.place(holder_key(holder))
        waiter = None if place is None else self.queue.refresh(holder, token, place)
        if waiter is not None and place is not None and place.counted:
            self.queue.keep_index(waiter, place)  # the place's TTL was refreshed: the index must not lapse first
            return waiter, None
        if waiter is None:
            waiter = self.queue.put(holder, token, self.semaphore.now_ms())
        counted = self.semaphore.count_waiter(waiter)
        if counted is None:
            self.queue.delete_place(waiter)  # it holds a slot: it must not wait as well
            return None
        self.queue.mark_counted(waiter)
        return waiter, counted

    def fill_free_slots(self, seen: LeaseSnapshot | None = None) -> list[Admission]:
        """Give every free slot to the oldest waiters; returns those admitted, to be told.

        ``seen``: the prefix as read (or as written) just now, for the first round; later rounds read again.
        """
        admitted: list[Admission] = []
        for attempt in range(MAX_ROUNDS * 4):
            # Read before the queue: see forget_phantom_waiters.
            snapshot = seen or self.semaphore.occupancy()
            seen = None
            if snapshot.waiting <= 0:
                return admitted
            # Expired leases must not keep the queue waiting. (A wide-layout prefix's holders are counted,
            # not listed: the sweeper reclaims its expired leases.)
            expired = snapshot.expired(self.semaphore.now())
            if snapshot.held >= snapshot.cap and expired:
                self.semaphore.reclaim(expired)
                continue
            if snapshot.held >= snapshot.cap:
                return admitted
            try:
                admissions = self.semaphore.admit_heads(snapshot)
            except LookAgain:
                pause(attempt)
                continue
            if not admissions:
                return admitted
            admitted += admissions
        return admitted

    def remove(self, waiter: Waiter) -> bool:
        """Take a waiter out of the queue (its execution ended); False if it was no longer there."""
        place = self.queue.place(waiter.key)
        counted = place is None or place.sort_key != waiter.sort_key or place.counted
        return self.semaphore.remove_waiter(waiter, counted=counted)
