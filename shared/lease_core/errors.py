"""Typed lease errors.

Step Functions matches Retry/Catch rules on the Lambda error type, which is the
exception's class name, so these names are part of the public contract and must
not change: ``InvalidLeaseRequest`` is never retried, ``LeaseStoreUnavailable``
is retried with backoff, ``LeaseLost`` ends the work that relied on the lease.
"""

from __future__ import annotations


class LeaseError(Exception):
    """Base of every error the lease core raises on purpose."""


class InvalidLeaseRequest(LeaseError):
    """The event or the configuration is wrong; retrying cannot help."""


class LeaseStoreUnavailable(LeaseError):
    """DynamoDB failed or throttled after botocore's own retries; safe to retry."""


class LeaseLost(LeaseError):
    """The holder no longer holds the lease it tried to renew."""


class UnknownPrefix(LeaseError):
    """No semaphore exists for the prefix yet (nothing ever acquired or set its cap)."""
