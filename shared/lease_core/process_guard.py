"""The check every workload's ``process`` Lambda makes before its work: does this run hold a lease?

Step Functions can start a Process task without a lease in hand: a redriven
execution restarts at the state that did not succeed, so one stopped inside
Process restarts straight in Process, after its lease was released or while the
stopped run's task may still be running
(https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html).
So Process itself checks, with a strongly consistent read, that the holder it is
given (``lease_holder``: the execution ARN and its run, see ``execution_arns``)
holds a live lease of the workload's prefix, and raises ``LeaseLost`` otherwise;
the definitions catch that error back into Acquire, so such a run waits for a slot
like a new one. It lives in the core so that every workload gets it by decorating
its handler with ``requires_lease``, without writing it again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from lease_core.aws_clients import client_for
from lease_core.errors import InvalidLeaseRequest, LeaseLost, LeaseStoreUnavailable
from lease_core.observability import logger
from lease_core.semaphore import HeldLease, LeaseSemaphore
from lease_core.settings import LeaseSettings, current_environment
from lease_core.validation import validate_holder

LEASE_HOLDER_KEY = "lease_holder"

Handler = Callable[[Any, Any], Any]


def remaining_seconds(context: Any) -> float:
    """How long the invocation may still run (its own timeout), from the Lambda context; 0 if unknown."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return 0.0
    try:
        return max(0.0, float(remaining()) / 1000)
    except (TypeError, ValueError):
        return 0.0


def held_lease(event: Any, *, for_seconds: float = 0) -> tuple[HeldLease, dict[str, Any]]:
    """Check that the event's ``lease_holder`` holds a lease live for ``for_seconds`` more; returns it and the
    event without that key."""
    if not isinstance(event, dict) or not isinstance(event.get(LEASE_HOLDER_KEY), str):
        raise InvalidLeaseRequest(
            f'the process event must carry "{LEASE_HOLDER_KEY}" (the holder that acquired the lease); '
            "render the workflow with lease_ops, or add it to the Process task's payload"
        )
    holder = validate_holder(event[LEASE_HOLDER_KEY])
    environment = dict(current_environment())
    settings = LeaseSettings.from_environment(environment)
    semaphore = LeaseSemaphore(
        client_for("dynamodb", environment), settings.table_name, settings.prefix, ttl_seconds=settings.ttl_seconds
    )
    try:
        lease = semaphore.check_held(holder, for_seconds=for_seconds)
    except (LeaseLost, LeaseStoreUnavailable) as exc:
        logger.warning(
            "process refused to start", extra={"prefix": settings.prefix, "holder": holder, "reason": str(exc)}
        )
        raise
    work = {key: value for key, value in event.items() if key != LEASE_HOLDER_KEY}
    return lease, work


def requires_lease(handler: Handler) -> Handler:
    """Decorate a ``process`` handler: it runs only after ``held_lease`` found its run's lease live until the
    invocation's own timeout, so the work can never outlive the lease, however it was retried or redriven."""

    @functools.wraps(handler)
    def guarded(event: Any, context: Any) -> Any:
        _, work = held_lease(event, for_seconds=remaining_seconds(context))
        return handler(work, context)

    return guarded
