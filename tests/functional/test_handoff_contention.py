"""Real threads queueing for a cap of 3 through the handoff Lambdas and a real moto server.

Each worker is an execution: its acquire task gets a task token, the acquire
Lambda answers it (SendTaskSuccess through moto, routed to the task-token
registry) at once or when a release hands a slot over. Checked: nobody waits
forever (no lost wakeup), the cap holds at every sample, and no execution is
admitted before one that was already queued when it arrived (no overtaking).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from lease_core import LeaseSemaphore, lambda_functions
from lease_core.aws_clients import CLIENT_CONFIG
from lease_core.settings import invocation_environment
from lease_core.store import DynamoTable
from lease_ops.local_runner.task_tokens import TASK_TOKENS
from lease_ops.moto_server import AtomicMotoServer
from lease_ops.table import create_lease_table
from tests.helpers import race

THREADS = 24
CYCLES_PER_THREAD = 3
CAP = 3
PREFIX = "queued"


class GrantLog:
    """The order in which the table granted slots, seen by wrapping every write of the lease core.

    A grant is a successful write that sets a holder's lease: an admission of its own or a handover.
    """

    def __init__(self) -> None:
        self.order: list[str] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def watching(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        original = DynamoTable.call
        log = self

        def call(table: DynamoTable, operation: str, **request: Any) -> dict[str, Any]:
            with log._lock:  # moto answers one request at a time anyway: this only fixes the log's order
                response = original(table, operation, **request)
                log.order += granted_holders(operation, request)
            return response

        monkeypatch.setattr(DynamoTable, "call", call)
        yield


def granted_holders(operation: str, request: dict[str, Any]) -> list[str]:
    updates = [request] if operation == "update_item" else []
    if operation == "transact_write_items":
        updates = [item["Update"] for item in request["TransactItems"] if "Update" in item]
    granted = []
    for update in updates:
        expression = update.get("UpdateExpression", "")
        for placeholder in ("#holder", "#waiter"):
            if f"SET #holders.{placeholder} = :lease" in expression:
                granted.append(update["ExpressionAttributeNames"][placeholder])
    return granted


@pytest.mark.slow
def test_queued_executions_are_handed_slots_in_arrival_order_without_exceeding_the_cap(
    moto_server: AtomicMotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def new_client() -> Any:
        return boto3.session.Session().client(
            "dynamodb", endpoint_url=moto_server.endpoint_url, region_name="eu-central-1", config=CLIENT_CONFIG
        )

    table = f"handoff-{uuid.uuid4().hex[:8]}"
    create_lease_table(new_client(), table)
    environment = {
        "AWS_ENDPOINT_URL": moto_server.endpoint_url,
        "AWS_REGION": "eu-central-1",
        "LEASE_TABLE_NAME": table,
        "LEASE_PREFIX": PREFIX,
        "LEASE_MAX_CONCURRENCY": str(CAP),
        "LEASE_TTL_SECONDS": "300",
        "LEASE_WAIT_MODE": "handoff",
    }
    grants = GrantLog()
    ticks = itertools.count()
    queued_at: dict[str, int] = {}  # holder -> tick once its acquire had answered "queued"
    started_at: dict[str, int] = {}  # holder -> tick before its acquire was sent
    holding = [0, 0]  # now, most
    lock = threading.Lock()

    def worker(index: int) -> None:
        rng = random.Random(index)
        for cycle in range(CYCLES_PER_THREAD):
            holder = f"arn:aws:states:eu-central-1:123456789012:execution:queued:w{index}-c{cycle}"
            token = TASK_TOKENS.issue()
            with lock:
                started_at[holder] = next(ticks)
            with invocation_environment(environment):
                answer = lambda_functions.acquire({"holder": holder, "task_token": token}, None)
            if answer["status"] == "queued":
                with lock:
                    queued_at[holder] = next(ticks)
            pending = TASK_TOKENS.pending(token)
            assert pending.done.wait(60), f"{holder} was never handed a slot (lost wakeup)"
            TASK_TOKENS.close(token)
            assert json.loads(pending.output or "{}")["status"] == "acquired"
            with lock:
                holding[0] += 1
                holding[1] = max(holding)
            time.sleep(rng.uniform(0.02, 0.08))
            with lock:
                holding[0] -= 1
            with invocation_environment(environment):
                assert lambda_functions.release({"holder": holder}, None) == {"status": "released"}

    with grants.watching(monkeypatch):
        errors, table_maximum = race(worker, THREADS, LeaseSemaphore(new_client(), table, PREFIX, initial_cap=CAP))

    assert not errors, errors[:3]
    assert len(grants.order) == THREADS * CYCLES_PER_THREAD, "every execution was granted exactly one slot"
    assert len(queued_at) >= THREADS // 2, f"only {len(queued_at)} executions queued: the test did not contend"
    granted_position = {holder: position for position, holder in enumerate(grants.order)}
    overtakers = [
        (earlier, later)
        for earlier, queued_tick in queued_at.items()
        for later, started_tick in started_at.items()
        if started_tick > queued_tick and granted_position[later] < granted_position[earlier]
    ]
    assert overtakers == [], f"{len(overtakers)} admissions overtook an execution already queued: {overtakers[:3]}"
    assert holding[1] == CAP and table_maximum <= CAP
    final = LeaseSemaphore(new_client(), table, PREFIX).inspect()
    assert final.holders == {} and final.waiting == 0
