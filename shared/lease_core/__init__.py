"""Runtime lease core: an atomic, idempotent, fail-closed counting semaphore per prefix.

Vendored into every Chalice app by ``make vendor``; it creates no AWS client at
import time.
"""

from lease_core.errors import InvalidLeaseRequest, LeaseError, LeaseLost, LeaseStoreUnavailable, UnknownPrefix
from lease_core.semaphore import Acquired, CapChange, LeaseSemaphore, LeaseSnapshot, MustWait, Released, Renewed

__all__ = [
    "Acquired",
    "CapChange",
    "InvalidLeaseRequest",
    "LeaseError",
    "LeaseLost",
    "LeaseSemaphore",
    "LeaseSnapshot",
    "LeaseStoreUnavailable",
    "MustWait",
    "Released",
    "Renewed",
    "UnknownPrefix",
]
