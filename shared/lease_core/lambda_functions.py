"""The ``acquire``, ``release`` and ``renew`` Lambdas every workload app registers.

A Chalice Blueprint is Chalice's own way to share handlers between apps: each
workload's ``app.py`` calls ``app.register_blueprint(lease_functions)`` and
Chalice deploys the three functions under the app's name, with the handler
strings pointing into this (vendored) module.

Contract (see DESIGN.md): the event is ``{"holder": str}``; answers are plain
dicts; every failure is a typed exception whose class name Step Functions
matches in Retry/Catch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Blueprint

from lease_core import observability
from lease_core.aws_clients import client_for
from lease_core.errors import InvalidLeaseRequest, LeaseLost, LeaseStoreUnavailable
from lease_core.observability import logger, record_metric
from lease_core.semaphore import Acquired, LeaseSemaphore, MustWait, Released, Renewed
from lease_core.settings import LeaseSettings, current_environment

lease_functions = Blueprint(__name__)
LeaseOutcome = Acquired | MustWait | Released | Renewed

HOLDER_EVENT_KEYS = frozenset({"holder"})


def holder_from_event(event: Any) -> Any:
    """The ``holder`` of a lease event; the event must be exactly ``{"holder": ...}``."""
    if not isinstance(event, dict):
        raise InvalidLeaseRequest(
            f'event must be a JSON object like {{"holder": "<execution ARN>"}}, got {type(event).__name__}'
        )
    unknown = sorted(str(key) for key in event if key not in HOLDER_EVENT_KEYS)
    if unknown:
        raise InvalidLeaseRequest(f"event has unknown keys {unknown[:5]}; expected only ['holder']")
    if "holder" not in event:
        raise InvalidLeaseRequest('event is missing "holder" (the execution ARN, $$.Execution.Id)')
    return event["holder"]


def semaphore_for_invocation() -> LeaseSemaphore:
    """A semaphore configured from the current invocation's environment."""
    environment = current_environment()
    settings = LeaseSettings.from_environment(environment)
    return LeaseSemaphore(
        client_for("dynamodb", environment),
        settings.table_name,
        settings.prefix,
        ttl_seconds=settings.ttl_seconds,
        initial_cap=settings.max_concurrency,
    )


def _observed(operation: str, event: Any, act: Callable[[LeaseSemaphore, Any], LeaseOutcome]) -> dict[str, Any]:
    """Run one lease operation with its log line and metric; errors are logged, counted and re-raised."""
    try:
        holder = holder_from_event(event)
        semaphore = semaphore_for_invocation()
    except InvalidLeaseRequest as exc:
        logger.error("invalid lease request", extra={"operation": operation, "reason": str(exc)})
        raise
    context = {"operation": operation, "prefix": semaphore.prefix, "holder": holder}
    try:
        outcome = act(semaphore, holder)
    except LeaseStoreUnavailable as exc:
        record_metric(observability.STORE_ERROR, prefix=semaphore.prefix, operation=operation)
        logger.error("lease store unavailable", extra={**context, "reason": str(exc)})
        raise
    except LeaseLost as exc:
        record_metric(observability.LOST, prefix=semaphore.prefix)
        logger.warning("lease lost", extra={**context, "reason": str(exc)})
        raise
    except InvalidLeaseRequest as exc:
        logger.error("invalid lease request", extra={**context, "reason": str(exc)})
        raise
    answer = outcome.as_event()
    record_metric(_METRIC_OF[answer["status"]], prefix=semaphore.prefix)
    logger.info(f"lease {answer['status']}", extra={**context, **answer})
    return answer


_METRIC_OF = {
    "acquired": observability.ACQUIRED,
    "wait": observability.WAITED,
    "released": observability.RELEASED,
    "not_held": observability.RELEASE_NOT_HELD,
    "renewed": observability.RENEWED,
}


@lease_functions.lambda_function(name="acquire")
def acquire(event: Any, context: Any) -> dict[str, Any]:
    return _observed("acquire", event, lambda semaphore, holder: semaphore.acquire(holder))


@lease_functions.lambda_function(name="release")
def release(event: Any, context: Any) -> dict[str, Any]:
    return _observed("release", event, lambda semaphore, holder: semaphore.release(holder))


@lease_functions.lambda_function(name="renew")
def renew(event: Any, context: Any) -> dict[str, Any]:
    return _observed("renew", event, lambda semaphore, holder: semaphore.renew(holder))
