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
from dataclasses import dataclass, replace
from typing import Any

from chalice import Blueprint

from lease_core import observability
from lease_core.aws_clients import client_for
from lease_core.errors import InvalidLeaseRequest, LeaseLost, LeaseStoreUnavailable
from lease_core.observability import logger, record_metric
from lease_core.semaphore import Acquired, LeaseSemaphore, MustWait, Released, Renewed
from lease_core.settings import LeaseSettings, current_environment
from lease_core.task_callbacks import pass_on, tell
from lease_core.validation import validate_holder
from lease_core.wait_time import parse_waiting_since, seconds_waited
from lease_core.waiting_room import MAX_ROUNDS, MAX_TOKEN_LENGTH, Admission, Waiter, WaitingRoom

lease_functions = Blueprint(__name__)

HOLDER_EVENT_KEYS = frozenset({"holder"})
ACQUIRE_EVENT_KEYS = frozenset({"holder", "task_token", "waiting_since"})


@dataclass(frozen=True)
class Queued:
    """Handoff mode: no free slot; the holder waits in line (since ``queued_at``) and will be told."""

    queued_at: float  # epoch seconds: its place in line

    def as_event(self) -> dict[str, Any]:
        return {"status": "queued", "queued_at": self.queued_at}


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
        or not 1 <= len(token.encode("utf-8", "surrogatepass")) <= MAX_TOKEN_LENGTH
        or not token.isprintable()
    ):
        raise InvalidLeaseRequest(
            f"task_token must be a task token ($$.Task.Token): printable, 1-{MAX_TOKEN_LENGTH} bytes in UTF-8"
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
    if call.settings.wait_mode == "poll":
        if call.task_token is not None:
            raise InvalidLeaseRequest("task_token given, but LEASE_WAIT_MODE is poll: acquire answers at once")
        outcome = call.semaphore.acquire(call.holder)
        if isinstance(outcome, MustWait) and call.waiting_since is not None:
            # How long it has waited: the workflow waits longer between polls the longer that is.
            return replace(outcome, waited=seconds_waited(call.waiting_since, call.semaphore.now_ms() / 1000))
        return outcome
    if call.waiting_since is not None:
        raise InvalidLeaseRequest("waiting_since given, but LEASE_WAIT_MODE is handoff: a queued waiter does not poll")
    if call.task_token is None:
        raise InvalidLeaseRequest(
            "LEASE_WAIT_MODE is handoff: invoke acquire from a lambda:invoke.waitForTaskToken task with "
            '"task_token.$": "$$.Task.Token"'
        )
    room = WaitingRoom(call.semaphore)
    for _ in range(MAX_ROUNDS):
        outcome = call.semaphore.acquire(call.holder, behind_waiters=True)
        if isinstance(outcome, Acquired):
            # Its own task waits for this answer too; if it timed out meanwhile, its re-check finds the slot.
            tell(
                call.stepfunctions(),
                Admission(Waiter(call.holder, call.task_token, ""), outcome.prefix, outcome.expires_at, grant=""),
            )
            return outcome
        waiter = room.enqueue(call.holder, call.task_token)
        if waiter is not None:
            break
    else:
        raise LeaseStoreUnavailable(f"could not queue for prefix {call.semaphore.prefix!r}: the queue kept changing")
    # A slot freed between the failed admission and the queueing is given out now: no lost wakeup.
    for admission in room.fill_free_slots():
        pass_on(call.semaphore, call.stepfunctions(), admission)
    return Queued(waiter.enqueued_at)


def _release(call: LeaseCall) -> LeaseOutcome:
    outcome = call.semaphore.release(call.holder)
    if outcome.handed_to is not None:
        pass_on(call.semaphore, call.stepfunctions(), outcome.handed_to)
    return outcome


@lease_functions.lambda_function(name="acquire")
def acquire(event: Any, context: Any) -> dict[str, Any]:
    return _observed("acquire", event, _acquire, ACQUIRE_EVENT_KEYS)


@lease_functions.lambda_function(name="release")
def release(event: Any, context: Any) -> dict[str, Any]:
    return _observed("release", event, _release)


@lease_functions.lambda_function(name="renew")
def renew(event: Any, context: Any) -> dict[str, Any]:
    return _observed("renew", event, lambda call: call.semaphore.renew(call.holder))
