"""What one queueing, one re-check and one hand-over cost in handoff mode, with a short and a very long queue.

The queue is seeded straight into moto's table model (100,000 waiters through the API would take most of
the run), in the item layout the core writes (``lease_core.item_layout``, ``lease_core.queue_items``),
with task tokens of about 1 KB; the measured operations then run through the core's own entry points
(``lease_operations``) against the metered server, so their units are billed by DynamoDB's rules.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from benchmarks.cycles import execution_holder
from benchmarks.designs import create_design_table
from benchmarks.environment import REGION, BenchEnvironment
from lease_core import LeaseSemaphore
from lease_core.item_layout import (
    WIDE_ABOVE_CAP,
    holder_key,
    index_partition,
    semaphore_key,
    waiter_sort_key,
    waiters_partition,
)
from lease_core.lease_operations import Queued, acquire_or_queue, release

PREFIX = "bench"
# A cap in each item layout (``lease_core.item_layout``): the holders' map, and a count with one item per lease.
CAPS = (5, WIDE_ABOVE_CAP + 1)
TOKEN_BYTES = 1_000  # Step Functions task tokens run to about 1 KB (at most 2,048)
SEED_MS = 1_767_225_600_000  # the queue's first arrival (epoch ms)


class RecordingStepFunctions:
    """Stands in for Step Functions: a hand-over's SendTaskSuccess is recorded, not sent."""

    def __init__(self) -> None:
        self.told: list[str] = []

    def send_task_success(self, *, taskToken: str, output: str) -> dict[str, Any]:
        self.told.append(taskToken)
        return {}


@dataclass
class QueueOperationCost:
    cap: int
    queued: int
    operation: str
    requests: int
    write_units: int
    read_units: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _token(index: int) -> str:
    return f"{index:08d}" + "t" * (TOKEN_BYTES - 8)


def _seed_queue(table_name: str, queued: int) -> None:
    """Write ``queued`` waiters (place and index items) straight into moto's table, oldest first."""
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(table_name)
    for index in range(queued):
        holder = execution_holder(20_000_000 + index)
        key = holder_key(holder)
        sort_key = waiter_sort_key(SEED_MS + index, key)
        table.put_item(
            {
                "pk": {"S": waiters_partition(PREFIX)},
                "sk": {"S": sort_key},
                "holder": {"S": holder},
                "token": {"S": _token(index)},
                "ttl": {"N": "1900000000"},
            }
        )
        table.put_item(
            {
                "pk": {"S": index_partition(PREFIX)},
                "sk": {"S": key},
                "at": {"S": sort_key},
                "counted": {"BOOL": True},
                "ttl": {"N": "1900000000"},
            }
        )


def measure_queue_costs(env: BenchEnvironment, queued: int, cap: int) -> list[QueueOperationCost]:
    """One queueing, one re-check and one hand-over with ``queued`` executions already waiting for ``cap`` slots."""
    table = f"bench-queue-{uuid.uuid4().hex[:8]}"
    setup = env.client(f"{table}:setup")
    create_design_table("lease-core", setup, table)
    semaphore = LeaseSemaphore(setup, table, PREFIX, initial_cap=cap)
    holders = [execution_holder(30_000_000 + index) for index in range(cap)]
    for holder in holders:
        semaphore.acquire(holder)
    _seed_queue(table, queued)
    setup.update_item(
        TableName=table,
        Key=semaphore_key(PREFIX),
        UpdateExpression="SET waiting = :n, enqueued = :n",
        ExpressionAttributeValues={":n": {"N": str(queued)}},
    )
    label = f"{table}:measured"
    # moto answers a Query by scanning its whole table (200,000 items with 100,000 queued): not DynamoDB's
    # time, and not what is measured here, so the client waits for it.
    measured = LeaseSemaphore(env.client(label, read_timeout=600), table, PREFIX)
    stepfunctions = RecordingStepFunctions()
    newcomer = execution_holder(40_000_000)
    results = []

    def metered(operation: str, act: Any) -> None:
        before, requests = env.meter.snapshot(table), env.requests.counts[label]
        act()
        after = env.meter.snapshot(table)
        results.append(
            QueueOperationCost(
                cap=cap,
                queued=queued,
                operation=operation,
                requests=env.requests.counts[label] - requests,
                write_units=after.write_units - before.write_units,
                read_units=after.read_units - before.read_units,
            )
        )

    def queue_once(token: str) -> None:
        outcome = acquire_or_queue(measured, stepfunctions, newcomer, token)
        if not isinstance(outcome, Queued):
            raise RuntimeError(f"the newcomer was not queued behind {queued} waiters: {outcome}")

    def hand_over() -> None:
        outcome = release(measured, holders[0], stepfunctions=stepfunctions)
        if outcome.handed_to is None or outcome.handed_to.waiter.holder != execution_holder(20_000_000):
            raise RuntimeError(f"the slot did not go to the oldest of {queued} waiters: {outcome}")

    metered("queueing", lambda: queue_once(_token(99_999_998)))
    metered("re-check", lambda: queue_once(_token(99_999_999)))
    metered("hand-over", hand_over)
    return results
