"""Concurrency at scale: many threads on both prefixes, with renewals, expiries, cap changes and store faults.

Each worker thread loops acquire → hold (renewing) → release on a random prefix,
straight against the core through a real moto server on 127.0.0.1. Some
workers "crash" while holding (no release) and their short leases expire; a
controller changes both caps all the time; a sweeper reclaims expired holders;
a share of DynamoDB requests fails or loses its answer, and workers retry as
Step Functions would. A sampler reads both semaphores continuously and flags
any sample where a newcomer was admitted over the cap.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import boto3
from botocore.config import Config

from lease_core import Acquired, LeaseLost, LeaseSemaphore, LeaseStoreUnavailable, UnknownPrefix
from lease_core.aws_clients import CLIENT_CONFIG
from lease_ops.aws.table import DEFAULT_TABLE_NAME, create_lease_table
from lease_ops.chaos.dynamodb_faults import DynamoFaults
from lease_ops.chaos.invariants import WindowedCapMonitor
from lease_ops.chaos.workflow_scenarios import ScenarioResult
from lease_ops.sandbox.embedded_aws import embedded_aws

CAP_RANGES = {"analytics": (8, 15), "batch": (2, 5)}
LEASE_SECONDS = 2  # short, so that crashed holders expire within the run
CRASH_PROBABILITY = 0.05
FAULT_PROBABILITY = 0.05


def _retry(call: Callable[[], Any], attempts: int = 20) -> Any:
    """Retry a lease call through store failures, as Step Functions' Retry would."""
    for attempt in range(attempts):
        try:
            return call()
        except LeaseStoreUnavailable:
            if attempt == attempts - 1:
                raise
            time.sleep(0.005 * (attempt + 1))
    raise AssertionError("unreachable")


def run_scale_scenario(*, threads: int, cycles: int, seed: int, region: str = "eu-central-1") -> ScenarioResult:
    started = time.monotonic()
    with embedded_aws(region) as endpoint:
        pool = CLIENT_CONFIG.merge(Config(max_pool_connections=threads + 8))  # all workers share one client

        def new_client() -> Any:
            return boto3.session.Session().client("dynamodb", region_name=region, endpoint_url=endpoint, config=pool)

        observer_client = new_client()
        create_lease_table(observer_client, DEFAULT_TABLE_NAME)
        for prefix, (_, high) in CAP_RANGES.items():
            LeaseSemaphore(observer_client, DEFAULT_TABLE_NAME, prefix).set_cap(high)
        faults = DynamoFaults(("throttling", "timeout", "lost-response"), FAULT_PROBABILITY, seed=seed)
        worker_client = new_client()
        faults.attach(worker_client)
        monitor = WindowedCapMonitor()
        stop = threading.Event()
        counts = {"cycles": 0, "crashed": 0, "renewed": 0, "lost": 0, "cap_changes": 0, "reclaimed": 0}
        errors: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(threads + 1)

        def count(name: str, by: int = 1) -> None:
            with lock:
                counts[name] += by

        def worker(index: int) -> None:
            rng = random.Random(seed * 1000 + index)
            barrier.wait()
            try:
                for cycle in range(cycles):
                    prefix = rng.choice(list(CAP_RANGES))
                    leases = LeaseSemaphore(
                        worker_client, DEFAULT_TABLE_NAME, prefix, ttl_seconds=LEASE_SECONDS, initial_cap=1
                    )
                    holder = f"worker-{index}-cycle-{cycle}"
                    while not isinstance(_retry(partial(leases.acquire, holder)), Acquired):
                        time.sleep(rng.uniform(0.005, 0.02))
                    time.sleep(rng.uniform(0.01, 0.05))
                    if rng.random() < 0.5:
                        try:
                            _retry(partial(leases.renew, holder))
                        except LeaseLost:
                            count("lost")  # held past its expiry and reclaimed: the worker stops, fail closed
                            continue
                        count("renewed")
                        time.sleep(rng.uniform(0.01, 0.05))
                    if rng.random() < CRASH_PROBABILITY:
                        count("crashed")  # never released: its lease expires
                    else:
                        _retry(partial(leases.release, holder))
                    count("cycles")
            except Exception as exc:  # reported as an error of the run
                with lock:
                    errors.append(f"worker {index}: {type(exc).__name__}: {exc}")

        def sweeper() -> None:
            while not stop.wait(0.5):
                for prefix in CAP_RANGES:
                    with contextlib.suppress(LeaseStoreUnavailable):
                        count(
                            "reclaimed",
                            len(LeaseSemaphore(observer_client, DEFAULT_TABLE_NAME, prefix).reclaim_expired()),
                        )

        def sampler_and_controller() -> None:
            """Sample each semaphore; right after a sample, sometimes change that prefix's cap.

            Changing a cap only just after sampling its prefix makes the monitor's window exact: every
            admission between two samples happened under the old or the new cap, never a third one.
            """
            rng = random.Random(seed)
            semaphores = {p: LeaseSemaphore(new_client(), DEFAULT_TABLE_NAME, p) for p in CAP_RANGES}
            while not stop.is_set():
                for prefix, semaphore in semaphores.items():
                    with contextlib.suppress(UnknownPrefix, LeaseStoreUnavailable):
                        snapshot = semaphore.inspect()
                        monitor.observe(prefix, snapshot.holders, snapshot.cap)
                        if rng.random() < 0.2:
                            semaphore.set_cap(rng.randint(*CAP_RANGES[prefix]))
                            count("cap_changes")

        workers = [threading.Thread(target=worker, args=(n,), name=f"worker-{n}") for n in range(threads)]
        for prefix, (_, high) in CAP_RANGES.items():
            monitor.observe(prefix, [], high)  # the state before any worker starts
        helpers = [threading.Thread(target=target) for target in (sweeper, sampler_and_controller)]
        for thread in workers + helpers:
            thread.start()
        barrier.wait()
        for thread in workers:
            thread.join(timeout=300)
        stop.set()
        for thread in helpers:
            thread.join(timeout=30)

        time.sleep(LEASE_SECONDS + 1)  # let the crashed workers' leases expire, then one sweep
        left = []
        for prefix in CAP_RANGES:
            semaphore = LeaseSemaphore(observer_client, DEFAULT_TABLE_NAME, prefix)
            semaphore.reclaim_expired()
            left += [f"{prefix}: {holder}" for holder in semaphore.inspect().holders]

    return ScenarioResult(
        name="concurrency-at-scale",
        fault=f"{threads} threads, 2 prefixes, renewals, expiries, cap changes, {FAULT_PROBABILITY:.0%} store faults",
        runs=counts["cycles"],
        faults_injected=faults.total() + counts["crashed"],
        violations=[*monitor.violations, *errors, *(f"left in the table: {h}" for h in left)],
        outcomes={key: value for key, value in counts.items() if key != "cycles"},
        checks=monitor.samples,
        seconds=time.monotonic() - started,
    )
