"""Real threads racing for a cap of 5 through a real moto server: the cap is reached and never exceeded.

"Reached" is judged by DynamoDB's own answers, not by thread timing: every refusal carries the item the
failed admission saw (ReturnValuesOnConditionCheckFailure), so a worker told to wait with ``active == cap``
was refused only while all five slots were held. How many holders the *workers* see at once (between an
acquire's answer and the release's request) depends on how the threads and the server get scheduled, and
on a loaded machine can stay below the cap while the table is full; it is checked only never to pass it.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

import pytest

from lease_core import Acquired, LeaseSemaphore, MustWait
from lease_core.aws_clients import CLIENT_CONFIG
from lease_ops.aws.table import create_lease_table
from lease_ops.sandbox.moto_server import AtomicMotoServer
from tests.helpers import aws_client, layout_is_wide, race

THREADS = 32
CYCLES_PER_THREAD = 6
CAP = 5


class HolderCounter:
    """Counts holders as the workers see them: +1 after acquire returns, -1 before release is sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current = 0
        self.maximum = 0
        self.samples: list[int] = []

    def change(self, delta: int) -> None:
        with self._lock:
            self.current += delta
            self.maximum = max(self.maximum, self.current)
            self.samples.append(self.current)


@pytest.mark.slow
def test_thirty_two_threads_fill_a_cap_of_five_never_exceed_it_and_leave_no_holder(
    moto_server: AtomicMotoServer, item_layout: str
) -> None:
    def new_client() -> Any:
        return aws_client("dynamodb", endpoint_url=moto_server.endpoint_url, config=CLIENT_CONFIG, own_session=True)

    table = f"contention-{uuid.uuid4().hex[:8]}"
    create_lease_table(new_client(), table)
    counter = HolderCounter()
    refusals: list[MustWait] = []  # list.append is atomic: no lock needed

    def worker(index: int) -> None:
        # A TTL far longer than the test: no lease expires, so a refusal can only mean a full semaphore.
        leases = LeaseSemaphore(new_client(), table, "contended", ttl_seconds=300, initial_cap=CAP)
        rng = random.Random(index)
        for cycle in range(CYCLES_PER_THREAD):
            holder = f"worker-{index}-cycle-{cycle}"
            while not isinstance(answer := leases.acquire(holder), Acquired):
                refusals.append(answer)
                time.sleep(rng.uniform(0.005, 0.02))
            counter.change(+1)
            time.sleep(rng.uniform(0.05, 0.15))
            counter.change(-1)
            assert leases.release(holder).held

    errors, table_maximum = race(worker, THREADS, LeaseSemaphore(new_client(), table, "contended", initial_cap=CAP))

    assert not errors, errors[:3]
    assert len(counter.samples) == 2 * THREADS * CYCLES_PER_THREAD
    # Never exceeded: neither as the workers saw it nor in the table.
    assert counter.maximum <= CAP, f"workers saw {counter.maximum} holders at once"
    assert table_maximum <= CAP, f"the table held {table_maximum} holders at once"
    # Reached, and no worker turned away from a free slot: 32 threads for 5 slots must have been refused, and
    # each refusal saw exactly the cap's worth of live holders.
    assert refusals, "no worker was ever told to wait: nothing contended"
    refused_below_or_over_cap = [answer for answer in refusals if (answer.active, answer.cap) != (CAP, CAP)]
    assert not refused_below_or_over_cap, f"{len(refused_below_or_over_cap)} refusals: {refused_below_or_over_cap[:3]}"
    final = LeaseSemaphore(new_client(), table, "contended").inspect()
    assert final.holders == {}
    assert layout_is_wide(new_client(), "contended", table) is (item_layout == "wide")
