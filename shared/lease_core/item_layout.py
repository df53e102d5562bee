"""The one place that knows how a prefix's leases and queue are laid out in the table: keys, attribute
names, how a holder's entry is packed, and the conditions every write of the protocol carries.

Why it is laid out this way: DynamoDB bills a write by the size of the item it touches, in 1 KB units,
a failed condition included
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html). So
the semaphore item, which every admission and release writes, must stay within 1 KB for caps up to
50 whatever the holder ids are (execution ARNs of up to 256 bytes):

- ``h`` maps a **holder key** to its entry. The key is a 54-bit digest of the holder's execution run
  (9 URL-safe base64 characters), followed by ``/<index>`` for a Map iteration (at most 12 bytes kept,
  a longer one digested), so that every lease of one run can be found from the run's ARN alone
  (cleanup) without storing the ARN. Two live holders of one prefix share a key with a probability of
  about n²/2⁵⁵ (7 x 10⁻¹⁴ for n = 50).
- the other attributes have short names too (``ts``, ``ls``): with 50 holders, every slot handed over,
  the longest prefix and counters at their widest, the item stays within 1 KB
  (``tests/functional/test_largest_semaphore_item.py`` builds it through the core and measures it).
- an entry is one number: ``(expires_at - EPOCH) * 10^4 + grant``. Ordering by it orders by expiry, so
  "expired by now" is one comparison; ``grant`` (1-9999) marks a slot handed to a waiter (0: the holder
  took it itself), and equality with the whole number names one exact lease.
- the queue (handoff mode) lives outside the semaphore item, one item per waiter in arrival order,
  plus one small index item per waiter keyed by holder key, so that finding one's own place is a
  GetItem and finding the head is a Query of one item: neither grows with the queue.

**Caps above ``WIDE_ABOVE_CAP``** (the *wide* layout): a map of every holder would make each admission and
release write the whole map (about 20 bytes a holder: 15 KB at cap 1,000). There the semaphore item keeps
a count ``n`` instead of ``h``, and each lease is its own small item (``holder_item_key``: partition
``<prefix>#holders``, sort key the holder key, ``e`` the packed entry). ``n`` changes only in a
transaction that also creates or deletes a holder item, so it always equals their number
(``wide_layout``). A prefix takes the wide layout when it is created or its cap set above the threshold
while it has no holders, and the narrow one likewise below it; with holders it keeps its layout (both are
correct at any cap; only the cost differs).

A semaphore item written by the earlier layout (holders by full id under ``holders``) is never
admitted to by this code (``LEGACY_HOLDERS`` must be absent); ``make bootstrap`` migrates an idle one.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from lease_core.execution_arns import execution_of, run_of

SEMAPHORE_SORT_KEY = "semaphore"
INDEX_SORT_PREFIX = ""  # index items are keyed by holder key alone

HOLDERS = "h"
CAP = "cap"
WAITING = "waiting"  # executions queued (handoff mode)
ENQUEUED = "enqueued"  # queueings ever counted: tells a changed queue from an unchanged one
TASK_SECONDS = "ts"  # how long a task under a lease can run (the Process timeout), written at deploy
LEASE_SECONDS = "ls"  # the workload's TTL, written at deploy
LEGACY_HOLDERS = "holders"  # the earlier layout's map of full holder ids
COUNT = "n"  # wide layout: how many holder items there are
ENTRY = "e"  # wide layout: a holder item's packed entry

# Above this cap a new (or idle) prefix counts its holders and keeps each lease in its own item: at cap
# 100 the map is ~2 KB (2 WCU a write, 4 a cycle), the wide layout's transactions cost 4 WCU a write.
WIDE_ABOVE_CAP = 100

# 2026-01-01T00:00:00Z: entries count seconds from here, which keeps them a few digits shorter.
EPOCH = 1_767_225_600
GRANT_SPAN = 10_000  # grants are 1..9999; 0 is a lease the holder took itself
DIGEST_CHARACTERS = 9  # 54 bits
MAX_INDEX_SUFFIX = 12  # bytes: a Map iteration's "/<index>" kept verbatim up to this size, else digested

# Placeholders every semaphore write may use; ``store.used_names`` keeps only those an expression uses.
NAMES = {
    "#h": HOLDERS,
    "#cap": CAP,
    "#waiting": WAITING,
    "#enqueued": ENQUEUED,
    "#legacy": LEGACY_HOLDERS,
    "#n": COUNT,
    "#e": ENTRY,
}
NOT_LEGACY = "attribute_not_exists(#legacy)"
# Admission: the holder already holds (a retry: idempotent), or the map is below the cap. The
# attribute_exists(#h) guard changes nothing on DynamoDB (a missing map fails the size comparison anyway)
# but keeps moto, which raises on size() of a missing attribute, answering a clean condition failure.
ADMISSION_CONDITION = f"attribute_exists(#h.#k) OR (attribute_exists(#h) AND size(#h) < #cap AND {NOT_LEGACY})"
# Handoff mode: a newcomer may not take a free slot while others wait in the queue (no overtaking).
NOBODY_WAITING = "(attribute_not_exists(#waiting) OR #waiting <= :zero)"
FIFO_ADMISSION_CONDITION = (
    f"attribute_exists(#h.#k) OR (attribute_exists(#h) AND size(#h) < #cap AND {NOBODY_WAITING} AND {NOT_LEGACY})"
)


def semaphore_key(prefix: str) -> dict[str, dict[str, str]]:
    """The key of a prefix's semaphore item; its ``pk`` starts with ``<prefix>#`` (IAM LeadingKeys)."""
    return {"pk": {"S": f"{prefix}#semaphore"}, "sk": {"S": SEMAPHORE_SORT_KEY}}


def holders_partition(prefix: str) -> str:
    """Wide layout: one item per holder, ``sk = <holder key>``."""
    return f"{prefix}#holders"


def holder_item_key(prefix: str, key: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": holders_partition(prefix)}, "sk": {"S": key}}


def is_wide(item: dict[str, Any] | None) -> bool:
    """Whether a (plain) semaphore item is in the wide layout: a count, no map."""
    return item is not None and CAP in item and COUNT in item and HOLDERS not in item


def is_narrow(item: dict[str, Any] | None) -> bool:
    return item is not None and CAP in item and HOLDERS in item


def wide_for(cap: int) -> bool:
    """The layout a prefix with this cap takes when it has no holders."""
    return cap > WIDE_ABOVE_CAP


def uncount(counted: int) -> tuple[str, dict[str, Any]]:
    """The part of a serving's update that takes the ``counted`` places it serves off ``waiting`` (True: one).

    Only places the count includes (``QueueItems.counts``) are taken off: a place served before its queueing
    counted it takes nothing off another's count."""
    if not counted:
        return "", {}
    return " ADD #waiting :uncounted", {":uncounted": {"N": str(-int(counted))}}


def waiters_partition(prefix: str) -> str:
    """The queue's items, sorted by arrival: ``sk = "<enqueued ms, 15 digits>#<holder key>"``."""
    return f"{prefix}#waiters"


def index_partition(prefix: str) -> str:
    """One item per queued holder, ``sk = <holder key>``, naming its place in the queue."""
    return f"{prefix}#queued"


def _digest(text: str) -> str:
    raw = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(raw).decode()[:DIGEST_CHARACTERS]


def run_key(execution_arn: str, run: int) -> str:
    """The key of every lease a run of an execution holds (its Map iterations add ``/<index>``)."""
    return _digest(f"{execution_arn}#{run}")


def holder_key(holder: str) -> str:
    """The short key a holder's lease and queue place are stored under (see the module docstring)."""
    match = execution_of(holder)
    if match is None:
        return _digest(holder)
    base = run_key(match["arn"], run_of(match))
    suffix = holder[match.end("run") if match["run"] is not None else match.end("arn") :]
    if not suffix:
        return base
    if len(suffix.encode("utf-8", "surrogatepass")) > MAX_INDEX_SUFFIX:
        suffix = "/" + _digest(suffix)
    return base + suffix


def belongs_to_run(key: str, execution_arn: str, run: int) -> bool:
    """Whether a stored holder key is a lease (or a Map iteration's lease) of that run."""
    base = run_key(execution_arn, run)
    return key == base or key.startswith(base + "/")


@dataclass(frozen=True)
class Entry:
    """One holder's lease: when it expires, and the grant of the hand-over that gave it (0: none)."""

    expires_at: int
    grant: int = 0

    def packed(self) -> dict[str, str]:
        return {"N": str((self.expires_at - EPOCH) * GRANT_SPAN + self.grant)}

    @staticmethod
    def unpack(value: Any) -> Entry:
        number = int(value)
        relative, grant = divmod(number, GRANT_SPAN)
        return Entry(relative + EPOCH, grant)


def held_condition(exact: Entry | None, path: str) -> tuple[str, dict[str, Any]]:
    """The condition that the lease at ``path`` (``#h.#k`` in the map, ``#e`` on a holder item) exists, and is
    exactly ``exact`` if given; with the values it uses."""
    if exact is None:
        return f"attribute_exists({path})", {}
    return f"{path} = :exact", {":exact": exact.packed()}


def expired_at_most(now: int) -> dict[str, str]:
    """The largest packed entry that has expired by ``now``: ``entry <= this`` means ``expires_at <= now``."""
    return {"N": str((now - EPOCH) * GRANT_SPAN + GRANT_SPAN - 1)}


def new_grant() -> int:
    """A fresh grant for one hand-over attempt (1-9999)."""
    return 1 + secrets.randbelow(GRANT_SPAN - 1)


def waiter_sort_key(enqueued_ms: int, key: str) -> str:
    return f"{enqueued_ms:015d}#{key}"
