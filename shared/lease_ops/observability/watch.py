"""What `make watch` shows of each prefix, worked out from successive reads of the table: no I/O here.

The table says how many hold a slot, the cap and how many wait in the queue; it does not say when a
lease began, nor how many were admitted lately (no counter of admissions is kept: it would be one more
write on every admission). So both are measured by the watcher itself, from what it sees change
between two reads, and the view says so:

- **admissions per second**: a holder key present in a read and absent from the previous read of its
  prefix is one admission (a hand-over to a waiter included). Counted over the last
  ``WINDOW_SECONDS``; until the watch has read the prefix for that long, over the time it has (the
  view shows that span). A lease that began and ended between two reads is not seen, so this is a
  lower bound, exact when leases outlive the refresh interval.
- **oldest holder's age**: a lease entry keeps only its expiry, which an admission (or a hand-over)
  sets to now + the workload's TTL (``lease_seconds``, written at deploy) and each renewal pushes on.
  A holder first seen at the watch's first read is dated ``expiry - TTL``: its grant or its last
  renewal, so a long job that renews looks younger than it is until the watch has seen it for longer
  (a lease cleanup brought forward may look older). A holder that appears later is dated the same
  way, but never before the previous read, when it was not there. Without a TTL in the table (a prefix
  no deploy wrote), a holder is dated when it was first seen, and one already there at the first read
  is shown as "at least" that old.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from lease_core import LeaseSnapshot

WINDOW_SECONDS = 60.0


class AdmissionWindow:
    """Admissions seen over the last ``WINDOW_SECONDS`` of one prefix, from the time it was first read."""

    def __init__(self, started: float, window: float = WINDOW_SECONDS) -> None:
        self.started = started
        self.window = window
        self._seen: deque[tuple[float, int]] = deque()  # (when seen, how many), oldest first

    def record(self, at: float, admitted: int) -> None:
        if admitted:
            self._seen.append((at, admitted))

    def measured_for(self, now: float) -> float:
        """The span the rate is over: the window, or less while the prefix has not been read that long."""
        return max(0.0, min(self.window, now - self.started))

    def count(self, now: float) -> int:
        while self._seen and self._seen[0][0] <= now - self.window:
            self._seen.popleft()
        return sum(admitted for _, admitted in self._seen)

    def per_second(self, now: float) -> float | None:
        """None until there is a span to measure over (the first read is only the baseline)."""
        span = self.measured_for(now)
        return None if span <= 0 else self.count(now) / span


@dataclass(frozen=True)
class PrefixRow:
    """One line of the view."""

    prefix: str
    cap: int | None = None
    holders: int = 0  # expired ones included: they count against the cap until reclaimed
    expired: int = 0
    queued: int = 0  # handoff mode's waiters (poll mode's wait in their Wait state, not in the table)
    oldest_age: float | None = None  # seconds; None without holders
    oldest_age_at_least: bool = False  # the oldest was there at the first read, with no TTL to date it by
    admissions_per_second: float | None = None  # None until measured
    measured_for: float = 0.0  # seconds the rate is over
    problem: str | None = None  # the prefix could not be read


class PrefixTracker:
    """One prefix across reads: which holder keys it had and since when, and its admissions."""

    def __init__(self, prefix: str, first_read: float, window: float = WINDOW_SECONDS) -> None:
        self.prefix = prefix
        self.admissions = AdmissionWindow(first_read, window)
        self._since: dict[str, float] = {}  # holder key -> when its lease began, as far as can be told
        self._undated: set[str] = set()  # holders of the first read without a TTL: older than their date
        self._last_read: float | None = None

    def observe(self, snapshot: LeaseSnapshot, at: float) -> PrefixRow:
        previous = self._last_read
        since = {}
        for key, lease in snapshot.holders.items():
            if key in self._since:
                since[key] = self._since[key]
                continue
            began = at if snapshot.lease_seconds is None else min(at, lease.expires_at - snapshot.lease_seconds)
            since[key] = began if previous is None else max(began, previous)
            if previous is None and snapshot.lease_seconds is None:
                self._undated.add(key)
        if previous is not None:
            self.admissions.record(at, len(since.keys() - self._since.keys()))
        self._since, self._last_read = since, at
        self._undated &= since.keys()
        oldest = min(since.values()) if since else None
        return PrefixRow(
            prefix=self.prefix,
            cap=snapshot.cap,
            holders=snapshot.held,
            expired=len(snapshot.expired(int(at))),
            queued=max(0, snapshot.waiting),
            oldest_age=None if oldest is None else at - oldest,
            oldest_age_at_least=any(since[key] == oldest for key in self._undated),
            admissions_per_second=self.admissions.per_second(at),
            measured_for=self.admissions.measured_for(at),
        )

    def unreadable(self, problem: str, at: float) -> PrefixRow:
        """The row of a read that failed: what was measured stays, the next good read carries on."""
        return PrefixRow(
            prefix=self.prefix,
            admissions_per_second=self.admissions.per_second(at),
            measured_for=self.admissions.measured_for(at),
            problem=problem,
        )


@dataclass(frozen=True)
class TableRead:
    """One read of the table: each prefix's snapshot, or why it could not be read."""

    at: float  # when the read began: nothing it shows is older
    snapshots: dict[str, LeaseSnapshot]
    problems: dict[str, str]


@dataclass(frozen=True)
class WatchFrame:
    at: float
    started: float  # the watch's first read
    rows: list[PrefixRow]


class Watch:
    """Feeds each read to the trackers of its prefixes; a prefix gone from the table is forgotten."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self.window = window
        self.started: float | None = None
        self._trackers: dict[str, PrefixTracker] = {}

    def update(self, read: TableRead) -> WatchFrame:
        if self.started is None:
            self.started = read.at
        present = read.snapshots.keys() | read.problems.keys()
        for prefix in list(self._trackers):
            if prefix not in present:
                del self._trackers[prefix]
        rows = []
        for prefix in sorted(present):
            tracker = self._trackers.setdefault(prefix, PrefixTracker(prefix, read.at, self.window))
            if prefix in read.snapshots:
                rows.append(tracker.observe(read.snapshots[prefix], read.at))
            else:
                rows.append(tracker.unreadable(read.problems[prefix], read.at))
        return WatchFrame(at=read.at, started=self.started, rows=rows)
