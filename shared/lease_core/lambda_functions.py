"""The ``acquire``, ``release`` and ``renew`` Lambdas every workload app registers.

A Chalice Blueprint is Chalice's own way to share handlers between apps: each
workload's ``app.py`` calls ``app.register_blueprint(lease_functions)`` and
Chalice deploys the three functions under the app's name, with the handler
strings pointing into this (vendored) module.

Contract (see DESIGN.md): the event is ``{"holder": str}``; answers are plain
dicts; every failure is a typed exception whose class name Step Functions
matches in Retry/Catch. In handoff mode (``LEASE_WAIT_MODE=handoff``) acquire is
invoked by a ``.waitForTaskToken`` task with ``{"holder", "task_token"}``: it
answers the task itself (SendTaskSuccess) once the holder has a slot, at once or
when a release hands one over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalice import Blueprint

from lease_core import lease_operations, observability
from lease_core.aws_clients import client_for
from lease_core.errors import InvalidLeaseRequest, LeaseLost, LeaseStoreUnavailable
from lease_core.lease_operations import Queued
from lease_core.observability import logger, record_metric
from lease_core.semaphore import Acquired, LeaseSemaphore, MustWait, Released, Renewed
from lease_core.settings import LeaseSettings, current_environment
from lease_core.validation import validate_holder
from lease_core.wait_time import parse_waiting_since

lease_functions = Blueprint(__name__)

# Step Functions takes a task token of 1-2048 in length
# (https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html).
MAX_TOKEN_BYTES = 2048
HOLDER_EVENT_KEYS = frozenset({"holder"})
ACQUIRE_EVENT_KEYS = frozenset({"holder", "task_token", "waiting_since"})


LeaseOutcome = Acquired | MustWait | Released | Renewed | Queued


@dataclass(frozen=True)
class LeaseCall:
    """One invocation: who asks, with what task token, and the semaphore it acts on."""

    holder: str
    task_token: str | None
    settings: LeaseSettings
    semaphore: LeaseSemaphore
    environment: dict[str, str]
    waiting_since: float | None = None  # poll mode: the execution's start (epoch s), to say how long it waited

    def stepfunctions(self) -> Any:
        return client_for("stepfunctions", self.environment)


def holder_from_event(event: Any, allowed: frozenset[str] = HOLDER_EVENT_KEYS) -> Any:
    """The ``holder`` of a lease event, which must have exactly the ``allowed`` keys (``holder`` required)."""
    if not isinstance(event, dict):
        raise InvalidLeaseRequest(
            f'event must be a JSON object like {{"holder": "<execution ARN>"}}, got {type(event).__name__}'
        )
    unknown = sorted(str(key) for key in event if key not in allowed)
    if unknown:
        raise InvalidLeaseRequest(f"event has unknown keys {unknown[:5]}; expected only {sorted(allowed)}")
    if "holder" not in event:
        raise InvalidLeaseRequest('event is missing "holder" (the execution ARN, $$.Execution.Id)')
    return event["holder"]


def _task_token(event: dict[str, Any]) -> str | None:
    token = event.get("task_token")
    if token is None:
        return None
    # Step Functions takes a task token of 1-2048 in length
    # (https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html); counted here in
    # UTF-8 bytes (DynamoDB's unit, for the waiter item that keeps it): within 2048 bytes is within 2048 characters.
    if (
        not isinstance(token, str)
        or not 1 <= len(token.encode("utf-8", "surrogatepass")) <= MAX_TOKEN_BYTES
        or not token.isprintable()
    ):
        raise InvalidLeaseRequest(
            f"task_token must be a task token ($$.Task.Token): printable, 1-{MAX_TOKEN_BYTES} bytes in UTF-8"
        )
    return token


def lease_call(event: Any, allowed: frozenset[str] = HOLDER_EVENT_KEYS) -> LeaseCall:
    """Check the event and the configuration, and set up the semaphore, before anything is written."""
    holder = validate_holder(holder_from_event(event, allowed))
    token = _task_token(event)
    waiting_since = parse_waiting_since(event["waiting_since"]) if "waiting_since" in event else None
    environment = dict(current_environment())
    settings = LeaseSettings.from_environment(environment)
    semaphore = LeaseSemaphore(
        client_for("dynamodb", environment),
        settings.table_name,
        settings.prefix,
        ttl_seconds=settings.ttl_seconds,
        initial_cap=settings.max_concurrency,
    )
    return LeaseCall(holder, token, settings, semaphore, environment, waiting_since)


_METRIC_OF = {
    "acquired": observability.ACQUIRED,
    "wait": observability.WAITED,
    "queued": observability.QUEUED,
    "released": observability.RELEASED,
    "not_held": observability.RELEASE_NOT_HELD,
    "renewed": observability.RENEWED,
}


def _observed(
    operation: str, event: Any, act: Callable[[LeaseCall], LeaseOutcome], allowed: frozenset[str] = HOLDER_EVENT_KEYS
) -> dict[str, Any]:
    """Run one lease operation with its log line and metric; errors are logged, counted and re-raised."""
    try:
        call = lease_call(event, allowed)
    except InvalidLeaseRequest as exc:
        logger.error("invalid lease request", extra={"operation": operation, "reason": str(exc)})
        raise
    context = {"operation": operation, "prefix": call.semaphore.prefix, "holder": call.holder}
    try:
        outcome = act(call)
    except LeaseStoreUnavailable as exc:
        record_metric(observability.STORE_ERROR, prefix=call.semaphore.prefix, operation=operation)
        logger.error("lease store unavailable", extra={**context, "reason": str(exc)})
        raise
    except LeaseLost as exc:
        record_metric(observability.LOST, prefix=call.semaphore.prefix)
        logger.warning("lease lost", extra={**context, "reason": str(exc)})
        raise
    except InvalidLeaseRequest as exc:
        logger.error("invalid lease request", extra={**context, "reason": str(exc)})
        raise
    answer = outcome.as_event()
    record_metric(_METRIC_OF[answer["status"]], prefix=call.semaphore.prefix)
    logger.info(f"lease {answer['status']}", extra={**context, **answer})
    return answer


def _acquire(call: LeaseCall) -> LeaseOutcome:
    return lease_operations.acquire(
        call.semaphore,
        call.holder,
        wait_mode=call.settings.wait_mode,
        task_token=call.task_token,
        waiting_since=call.waiting_since,
        stepfunctions=call.stepfunctions() if call.settings.wait_mode == lease_operations.HANDOFF else None,
    )


def _release(call: LeaseCall) -> LeaseOutcome:
    return lease_operations.release(call.semaphore, call.holder, stepfunctions=call.stepfunctions())


@lease_functions.lambda_function(name="acquire")
def acquire(event: Any, context: Any) -> dict[str, Any]:
    return _observed("acquire", event, _acquire, ACQUIRE_EVENT_KEYS)


@lease_functions.lambda_function(name="release")
def release(event: Any, context: Any) -> dict[str, Any]:
    return _observed("release", event, _release)


@lease_functions.lambda_function(name="renew")
def renew(event: Any, context: Any) -> dict[str, Any]:
    return _observed("renew", event, lambda call: call.semaphore.renew(call.holder))
