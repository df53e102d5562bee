"""Acquire → hold → release cycles on real threads, per design: contention, uncontended, and cap sweeps.

Every figure is measured in the run: the holders the workers see at once (over-admission),
cycles per second, and per cycle the DynamoDB requests, write/read units and billed bytes.
Waits are each design's own polling wait and retry backoff, in workflow seconds scaled down
by ``time_scale``.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.designs import create_design_table, open_design
from benchmarks.environment import BenchEnvironment

PREFIX = "bench"
STATE_MACHINE = "arn:aws:states:eu-central-1:123456789012:execution:shared-lease-platform-bench-workflow:"


def execution_holder(index: int) -> str:
    """A holder id as long as a real execution ARN (the state machine ARN plus a UUID name)."""
    return f"{STATE_MACHINE}{uuid.UUID(int=random.Random(index).getrandbits(128))}"


@dataclass
class CycleResult:
    design: str
    scenario: str
    threads: int
    cap: int
    cycles: int
    seconds: float
    max_concurrent: int
    requests: int
    write_units: int
    read_units: int
    bytes_written: int
    bytes_read: int
    # Units billed for one admission refused at a full cap (the cap sweep measures it after its cycles).
    refused_write_units: int | None = None
    refused_read_units: int | None = None

    @property
    def over_admission(self) -> int:
        return max(0, self.max_concurrent - self.cap)

    def per_cycle(self, value: int) -> float:
        return value / self.cycles if self.cycles else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        cycles_per_second = self.cycles / self.seconds if self.seconds else 0.0
        data.update(
            over_admission=self.over_admission,
            cycles_per_second=round(cycles_per_second, 2),
            requests_per_cycle=round(self.per_cycle(self.requests), 2),
            write_units_per_cycle=round(self.per_cycle(self.write_units), 2),
            read_units_per_cycle=round(self.per_cycle(self.read_units), 2),
            bytes_written_per_cycle=round(self.per_cycle(self.bytes_written), 1),
            bytes_read_per_cycle=round(self.per_cycle(self.bytes_read), 1),
        )
        return data


class _Concurrency:
    def __init__(self) -> None:
        self.current = 0
        self.maximum = 0
        self._lock = threading.Lock()

    def change(self, delta: int) -> None:
        with self._lock:
            self.current += delta
            self.maximum = max(self.maximum, self.current)


def run_cycles(
    env: BenchEnvironment,
    design_name: str,
    *,
    scenario: str,
    threads: int,
    cap: int,
    cycles_per_thread: int,
    time_scale: float,
    hold_seconds: tuple[float, float] = (0.5, 2.0),
    prefill: int = 0,
    seed: int = 1,
) -> CycleResult:
    """Run ``threads`` workers doing ``cycles_per_thread`` cycles each, after ``prefill`` holders took a slot."""
    table = f"bench-{design_name}-{uuid.uuid4().hex[:8]}"
    label = f"{table}:measured"

    def scaled_sleep(workflow_seconds: float) -> None:
        time.sleep(workflow_seconds / time_scale)

    setup_client = env.client(f"{table}:setup")
    create_design_table(design_name, setup_client, table)
    setup = open_design(design_name, setup_client, table, PREFIX, cap, sleep=scaled_sleep)
    setup.set_cap(cap)
    for index in range(prefill):
        if not setup.acquire(execution_holder(10_000_000 + index)):
            raise RuntimeError(f"{design_name}: prefill holder {index} did not fit under the cap {cap}")
    design = open_design(design_name, env.client(label), table, PREFIX, cap, sleep=scaled_sleep)
    before = env.meter.snapshot(table)
    requests_before = env.requests.counts[label]
    concurrency = _Concurrency()
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        rng = random.Random(seed * 10_000 + index)
        barrier.wait()
        try:
            for cycle in range(cycles_per_thread):
                holder = execution_holder(index * 1_000 + cycle)
                while not design.acquire(holder):
                    scaled_sleep(design.wait_seconds)
                concurrency.change(+1)
                scaled_sleep(rng.uniform(*hold_seconds))
                concurrency.change(-1)
                design.release(holder)
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(index,)) for index in range(threads)]
    for thread in workers:
        thread.start()
    barrier.wait()
    started = time.monotonic()
    for thread in workers:
        thread.join()
    seconds = time.monotonic() - started
    if errors:
        raise RuntimeError(f"{design_name}: {len(errors)} worker(s) failed, first: {errors[0]!r}") from errors[0]
    after = env.meter.snapshot(table)
    measure_refusal = prefill == cap - 1 and design_name == "lease-core"
    refused = _refusal_units(env, design, setup, table, cap) if measure_refusal else (None, None)
    return CycleResult(
        design=design_name,
        scenario=scenario,
        threads=threads,
        cap=cap,
        cycles=threads * cycles_per_thread,
        seconds=seconds,
        max_concurrent=concurrency.maximum,
        requests=env.requests.counts[label] - requests_before,
        write_units=after.write_units - before.write_units,
        read_units=after.read_units - before.read_units,
        bytes_written=after.bytes_written - before.bytes_written,
        bytes_read=after.bytes_read - before.bytes_read,
        refused_write_units=refused[0],
        refused_read_units=refused[1],
    )


def _refusal_units(env: BenchEnvironment, design: Any, setup: Any, table: str, cap: int) -> tuple[int, int]:
    """Fill the last slot, then bill one admission that must be refused: its write and read units."""
    if not setup.acquire(execution_holder(19_999_999)):
        raise RuntimeError(f"{design.name}: the last slot of cap {cap} could not be filled")
    before = env.meter.snapshot(table)
    if design.acquire(execution_holder(29_999_999)):
        raise RuntimeError(f"{design.name}: admitted a holder over the full cap {cap}")
    after = env.meter.snapshot(table)
    return after.write_units - before.write_units, after.read_units - before.read_units
