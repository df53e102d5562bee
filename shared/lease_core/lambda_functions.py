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

from typing import Any

from chalice import Blueprint

from lease_core.aws_clients import client_for
from lease_core.errors import InvalidLeaseRequest
from lease_core.semaphore import LeaseSemaphore
from lease_core.settings import LeaseSettings, current_environment

lease_functions = Blueprint(__name__)

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


@lease_functions.lambda_function(name="acquire")
def acquire(event: Any, context: Any) -> dict[str, Any]:
    holder = holder_from_event(event)
    return semaphore_for_invocation().acquire(holder).as_event()


@lease_functions.lambda_function(name="release")
def release(event: Any, context: Any) -> dict[str, Any]:
    holder = holder_from_event(event)
    return semaphore_for_invocation().release(holder).as_event()


@lease_functions.lambda_function(name="renew")
def renew(event: Any, context: Any) -> dict[str, Any]:
    holder = holder_from_event(event)
    return semaphore_for_invocation().renew(holder).as_event()
