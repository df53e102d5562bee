"""Real threads queueing for a cap of 3 through the handoff Lambdas and a real moto server.

Each worker is an execution: its acquire task gets a task token, the acquire
Lambda answers it (SendTaskSuccess through moto, routed to the task-token
registry) at once or when a release hands a slot over. Checked: nobody waits
forever (no lost wakeup), the cap holds at every sample, and no execution is
admitted before one that was already queued when it arrived (no overtaking).

Below it, the race that once made a release of it give up ("the queue kept changing") is played out
step by step: releases competing for the head of the queue.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lease_core import LeaseSemaphore, LeaseStoreUnavailable, lambda_functions
from lease_core.aws_clients import CLIENT_CONFIG
from lease_core.item_layout import holder_key, holders_partition
from lease_core.semaphore import MAX_ROUNDS
from lease_core.settings import invocation_environment
from lease_core.store import DynamoTable
from lease_core.waiting_room import WaitingRoom
from lease_ops.aws.table import DEFAULT_TABLE_NAME, create_lease_table
from lease_ops.local_runner.task_tokens import TASK_TOKENS
from lease_ops.sandbox.moto_server import AtomicMotoServer
from tests.helpers import REGION, arn, aws_client, layout_is_wide, race

THREADS = 24
CYCLES_PER_THREAD = 3
CAP = 3
PREFIX = "queued"


class GrantLog:
    """The order in which the table granted slots, seen by wrapping every write of the lease core.

    A grant is a successful write that sets the lease of a holder key that held none: an admission of its
    own or a hand-over. A write that sets the lease of a key that already holds (a retried acquire of a
    holder, e.g. one handed a slot while it was queueing) grants no second slot: it is counted apart.
    """

    def __init__(self) -> None:
        self.order: list[str] = []  # holder keys
        self.rewrites = 0
        self._holding: set[str] = set()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def watching(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        original = DynamoTable.call
        log = self

        def call(table: DynamoTable, operation: str, **request: Any) -> dict[str, Any]:
            with log._lock:  # moto answers one request at a time anyway: this only fixes the log's order
                response = original(table, operation, **request)
                log._record(operation, request)
            return response

        monkeypatch.setattr(DynamoTable, "call", call)
        yield

    def _record(self, operation: str, request: dict[str, Any]) -> None:
        removed, granted = lease_changes(operation, request)
        self._holding -= set(removed)
        for key in granted:
            if key in self._holding:
                self.rewrites += 1
            else:
                self._holding.add(key)
                self.order.append(key)


def lease_changes(operation: str, request: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The holder keys a successful write removed from the semaphore's ``h`` map (or, wide layout, whose holder
    items it deleted), and those it set a lease for."""
    updates = [request] if operation == "update_item" else []
    deletes = [request] if operation == "delete_item" else []
    if operation == "transact_write_items":
        updates = [item["Update"] for item in request["TransactItems"] if "Update" in item]
        deletes = [item["Delete"] for item in request["TransactItems"] if "Delete" in item]
    removed, granted = [], []
    for delete in deletes:
        if delete["Key"]["pk"]["S"] == holders_partition(PREFIX):
            removed.append(delete["Key"]["sk"]["S"])
    for update in updates:
        if update["Key"]["pk"]["S"] == holders_partition(PREFIX):
            if re.search(r"\bSET #e = :lease\b", update["UpdateExpression"]):
                granted.append(update["Key"]["sk"]["S"])
            continue
        expression = update.get("UpdateExpression", "")
        names = update.get("ExpressionAttributeNames", {})
        removed += [names[name] for name in re.findall(r"#h\.(#\w+)", clause(expression, "REMOVE"))]
        granted += [names[name] for name in re.findall(r"#h\.(#\w+) = :lease\b", clause(expression, "SET"))]
    return removed, granted


def clause(expression: str, keyword: str) -> str:
    """One clause of an update expression: what follows ``keyword`` up to the next clause."""
    match = re.search(rf"\b{keyword} (.*?)(?= (?:SET|REMOVE|ADD|DELETE) |$)", expression)
    return match.group(1) if match else ""


@pytest.mark.slow
def test_queued_executions_are_handed_slots_in_arrival_order_without_exceeding_the_cap(
    moto_server: AtomicMotoServer, monkeypatch: pytest.MonkeyPatch, item_layout: str
) -> None:
    def new_client() -> Any:
        return aws_client("dynamodb", endpoint_url=moto_server.endpoint_url, config=CLIENT_CONFIG, own_session=True)

    table = f"handoff-{uuid.uuid4().hex[:8]}"
    create_lease_table(new_client(), table)
    environment = {
        "AWS_ENDPOINT_URL": moto_server.endpoint_url,
        "AWS_REGION": REGION,
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
            holder = arn("states", f"execution:queued:w{index}-c{cycle}")
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
            time.sleep(rng.uniform(0.08, 0.16))  # long beside a hand-over and its callback, so that holds overlap
            with lock:
                holding[0] -= 1
            with invocation_environment(environment):
                assert lambda_functions.release({"holder": holder}, None) == {"status": "released"}

    with grants.watching(monkeypatch):
        errors, table_maximum = race(worker, THREADS, LeaseSemaphore(new_client(), table, PREFIX, initial_cap=CAP))

    assert not errors, errors[:3]
    assert sorted(grants.order) == sorted(holder_key(holder) for holder in started_at), (
        f"every execution was granted exactly one slot ({grants.rewrites} leases written again while held)"
    )
    assert len(queued_at) >= THREADS // 2, f"only {len(queued_at)} executions queued: the test did not contend"
    position_of_key = {key: position for position, key in enumerate(grants.order)}
    granted_position = {holder: position_of_key[holder_key(holder)] for holder in started_at}
    overtakers = [
        (earlier, later)
        for earlier, queued_tick in queued_at.items()
        for later, started_tick in started_at.items()
        if started_tick > queued_tick and granted_position[later] < granted_position[earlier]
    ]
    assert overtakers == [], f"{len(overtakers)} admissions overtook an execution already queued: {overtakers[:3]}"
    assert holding[1] == CAP and table_maximum <= CAP, (
        f"most at once: {holding[1]} working, {table_maximum} in the table"
    )
    final = LeaseSemaphore(new_client(), table, PREFIX).inspect()
    assert final.holders == {} and final.waiting == 0
    assert layout_is_wide(new_client(), PREFIX, table) is (item_layout == "wide")


# -- the race behind it, played out deterministically -----------------------------------------------


def test_a_release_that_keeps_losing_the_head_to_other_releases_does_not_give_up_while_the_queue_moves_on(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rivals = [f"rival-{n}" for n in range(MAX_ROUNDS + 4)]
    leases = LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, PREFIX, initial_cap=len(rivals) + 1)
    for holder in ["slow", *rivals]:
        leases.acquire(holder)
    room = WaitingRoom(leases)
    for n in range(len(rivals) + 2):
        room.enqueue(f"waiter-{n}", f"token-{n}")
    original = LeaseSemaphore._transact
    waiting_rivals = list(rivals)

    def rival_releases_first(self: LeaseSemaphore, items: list[dict[str, Any]]) -> None:
        # Every hand-over "slow" tries, until the rivals are done, finds its head just served by a rival.
        if waiting_rivals:
            rival = waiting_rivals.pop(0)
            monkeypatch.setattr(LeaseSemaphore, "_transact", original)
            assert leases.release(rival).handed_to is not None
            monkeypatch.setattr(LeaseSemaphore, "_transact", rival_releases_first)
        original(self, items)

    monkeypatch.setattr(LeaseSemaphore, "_transact", rival_releases_first)

    released = leases.release("slow")

    assert waiting_rivals == []  # it lost more rounds in a row than MAX_ROUNDS...
    assert released.handed_to is not None  # ...and still handed its slot over: the queue moved on each time
    assert released.handed_to.waiter.holder == f"waiter-{len(rivals)}"
    assert [waiter.holder for waiter in room.waiters()] == [f"waiter-{len(rivals) + 1}"]
    assert leases.inspect().waiting == 1


def test_a_release_stuck_on_one_place_that_keeps_changing_gives_up_and_keeps_its_slot(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases = LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, PREFIX, initial_cap=1)
    leases.acquire("holder")
    room = WaitingRoom(leases)
    room.enqueue("waiter", "token-0")
    original = LeaseSemaphore._transact
    re_checks = itertools.count(1)

    def waiter_re_checks_first(self: LeaseSemaphore, items: list[dict[str, Any]]) -> None:
        room.enqueue("waiter", f"token-{next(re_checks)}")  # its token changes under every hand-over
        original(self, items)

    monkeypatch.setattr(LeaseSemaphore, "_transact", waiter_re_checks_first)

    with pytest.raises(LeaseStoreUnavailable, match="the queue kept changing"):
        leases.release("holder")

    monkeypatch.setattr(LeaseSemaphore, "_transact", original)
    assert leases.inspect().holds("holder")  # fails closed: retried, the release hands its slot over then
    handed = leases.release("holder").handed_to
    assert handed is not None and handed.waiter.holder == "waiter"
