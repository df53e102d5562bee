"""Real threads racing for a cap of 5 through a real moto server: the cap is reached and never exceeded."""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

import boto3
import pytest

from lease_core import Acquired, LeaseSemaphore
from lease_core.aws_clients import CLIENT_CONFIG
from lease_ops.moto_server import AtomicMotoServer
from lease_ops.table import create_lease_table
from tests.helpers import race

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
def test_thirty_two_threads_never_exceed_a_cap_of_five_and_leave_no_holder(moto_server: AtomicMotoServer) -> None:
    def new_client() -> Any:
        return boto3.session.Session().client(
            "dynamodb", endpoint_url=moto_server.endpoint_url, region_name="eu-central-1", config=CLIENT_CONFIG
        )

    table = f"contention-{uuid.uuid4().hex[:8]}"
    create_lease_table(new_client(), table)
    counter = HolderCounter()

    def worker(index: int) -> None:
        leases = LeaseSemaphore(new_client(), table, "contended", ttl_seconds=300, initial_cap=CAP)
        rng = random.Random(index)
        for cycle in range(CYCLES_PER_THREAD):
            holder = f"worker-{index}-cycle-{cycle}"
            while not isinstance(leases.acquire(holder), Acquired):
                time.sleep(rng.uniform(0.005, 0.02))
            counter.change(+1)
            time.sleep(rng.uniform(0.05, 0.15))
            counter.change(-1)
            assert leases.release(holder).held

    errors, table_maximum = race(worker, THREADS, LeaseSemaphore(new_client(), table, "contended", initial_cap=CAP))

    assert not errors, errors[:3]
    assert len(counter.samples) == 2 * THREADS * CYCLES_PER_THREAD
    assert counter.maximum == CAP, f"workers saw at most {counter.maximum} holders at once"
    assert table_maximum <= CAP, f"the table held {table_maximum} holders at once"
    final = LeaseSemaphore(new_client(), table, "contended").inspect()
    assert final.holders == {}
