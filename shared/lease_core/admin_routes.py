"""The platform app's HTTP API: see every prefix, change a cap live, force-release a holder.

IAM authorization guards every route once deployed (callers sign with SigV4);
``chalice local`` admits every request so the API can be tried on a laptop.
Every mistake of the caller is a 4xx with a JSON body; a store failure is a 503.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import unquote

from chalice import Blueprint, IAMAuthorizer, Response

from lease_core import observability
from lease_core.aws_clients import client_for
from lease_core.errors import InvalidLeaseRequest, LeaseStoreUnavailable, UnknownPrefix
from lease_core.lease_table import LeaseTable
from lease_core.observability import logger, record_metric
from lease_core.platform_settings import PlatformSettings
from lease_core.semaphore import LeaseSnapshot
from lease_core.settings import current_environment
from lease_core.task_callbacks import granting_semaphore, pass_on, serve_waiting
from lease_core.validation import validate_cap, validate_holder, validate_prefix

lease_admin = Blueprint(__name__)
iam = IAMAuthorizer()


class ServerMisconfigured(Exception):
    """The app's own configuration is wrong: a 500, not the caller's fault."""


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        body={"error": code, "message": message}, status_code=status, headers={"Content-Type": "application/json"}
    )


def json_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the core's typed errors into HTTP answers with a JSON body."""

    @wraps(view)
    def answer(*arguments: Any, **keywords: Any) -> Any:
        try:
            return view(*arguments, **keywords)
        except ServerMisconfigured as exc:
            logger.error("lease_app misconfigured", extra={"reason": str(exc)})
            return _error(500, "ServerMisconfigured", str(exc))
        except InvalidLeaseRequest as exc:
            return _error(400, "InvalidLeaseRequest", str(exc))
        except UnknownPrefix as exc:
            return _error(404, "UnknownPrefix", str(exc))
        except LeaseStoreUnavailable as exc:
            record_metric(observability.STORE_ERROR, operation="admin_api")
            logger.error("lease store unavailable", extra={"reason": str(exc)})
            return _error(503, "LeaseStoreUnavailable", str(exc))

    return answer


def lease_table() -> LeaseTable:
    environment = current_environment()
    try:
        settings = PlatformSettings.from_environment(environment)
    except InvalidLeaseRequest as exc:
        raise ServerMisconfigured(str(exc)) from None
    return LeaseTable(client_for("dynamodb", environment), settings.table_name)


def summary(snapshot: LeaseSnapshot, now: float) -> dict[str, Any]:
    soonest = min((lease.expires_at for lease in snapshot.holders.values()), default=None)
    return {
        "prefix": snapshot.prefix,
        "cap": snapshot.cap,
        "holder_count": len(snapshot.holders),
        "active": snapshot.active(int(now)),
        "waiting": snapshot.waiting,
        "next_expiry_in_s": None if soonest is None else int(soonest - int(now)),
    }


@lease_admin.route("/prefixes", methods=["GET"], authorizer=iam)
@json_errors
def list_prefixes() -> dict[str, Any]:
    now = time.time()
    return {"prefixes": [summary(snapshot, now) for snapshot in lease_table().snapshots()]}


@lease_admin.route("/prefixes/{prefix}", methods=["GET"], authorizer=iam)
@json_errors
def describe_prefix(prefix: str) -> dict[str, Any]:
    snapshot = lease_table().semaphore(validate_prefix(prefix)).inspect()
    now = int(time.time())
    # The table names holders by key (lease_core.item_layout.holder_key), not by execution ARN.
    holders = [
        {
            "holder_key": key,
            "expires_at": lease.expires_at,
            "expired": lease.expires_at <= now,
            "handed_over": lease.grant > 0,
        }
        for key, lease in sorted(snapshot.holders.items(), key=lambda item: (item[1].expires_at, item[0]))
    ]
    return {**summary(snapshot, now), "task_seconds": snapshot.task_seconds, "holders": holders}


@lease_admin.route("/prefixes/{prefix}/cap", methods=["PUT"], authorizer=iam, content_types=["application/json"])
@json_errors
def change_cap(prefix: str) -> dict[str, Any]:
    prefix = validate_prefix(prefix)
    try:
        body = json.loads(lease_admin.current_request.raw_body or b"")
    except ValueError:
        raise InvalidLeaseRequest('body is not JSON; send {"cap": <whole number from 1 to 1000>}') from None
    if not isinstance(body, dict) or set(body) != {"cap"}:
        raise InvalidLeaseRequest('body must be a JSON object {"cap": <whole number from 1 to 1000>}')
    cap = validate_cap(body["cap"])
    semaphore = lease_table().semaphore(prefix)
    change = semaphore.set_cap(cap, create=False)
    table = lease_table()
    serve_waiting(table, client_for("stepfunctions", current_environment()))  # a raised cap frees slots
    holders = len(semaphore.inspect().holders)
    record_metric(observability.CAP_CHANGED, prefix=prefix)
    logger.info("cap changed", extra={"prefix": prefix, "old_cap": change.old, "cap": cap})
    return {"prefix": prefix, "old_cap": change.old, "cap": cap, "holder_count": holders, "admits_new": holders < cap}


@lease_admin.route("/prefixes/{prefix}/holders/{holder}", methods=["DELETE"], authorizer=iam)
@json_errors
def force_release(prefix: str, holder: str) -> Any:
    prefix = validate_prefix(prefix)
    # The holder is URL-encoded in the path (a Map iteration's "/" as %2F); decode what is still encoded.
    holder = validate_holder(unquote(holder))
    semaphore = lease_table().semaphore(prefix)
    snapshot = semaphore.inspect()  # UnknownPrefix → 404 for a prefix that was never used
    semaphore = granting_semaphore(lease_table(), snapshot)
    # Either a holder id (an execution ARN and run) or a holder key as GET /prefixes/{prefix} lists them.
    # The id wins when both could apply, so that a holder id never releases another holder by accident.
    by_key = not snapshot.holds(holder) and holder in snapshot.holders
    released = semaphore.release_key(holder) if by_key else semaphore.release(holder)
    if not released.held:
        return _error(404, "NotHeld", f"holder {holder!r} holds no lease on prefix {prefix!r}")
    pass_on(semaphore, client_for("stepfunctions", current_environment()), released.handed_to)
    record_metric(observability.RECLAIMED, prefix=prefix, reason="forced")
    logger.warning("lease force-released", extra={"prefix": prefix, "holder": holder})
    return {"status": "released", "prefix": prefix, "holder": holder}
