"""The burst runs: which design, wait mode and prefixes each simulates, and one run from start to end.

A run is one simulation on a fresh in-process moto (``mock_aws``): one table, set up outside simulated
time as a deploy would (``make bootstrap`` and ``make caps``), then executions that start at random
times within the arrival window, each with a Process time drawn uniformly from its range. It ends when
every execution has ended (or at ``max_simulated_seconds``: the rest count as unfinished).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
import botocore.endpoint
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config
from moto import mock_aws

from benchmarks.baselines import count_then_put
from benchmarks.burst.core_calls import lambda_client_config, pausing_modules, seeded_secrets
from benchmarks.burst.designs import (
    COUNT_THEN_PUT,
    COUNTER_OWNER,
    LEASE_CORE,
    CounterOwnerDesign,
    CountThenPutDesign,
    Design,
    LeaseCoreDesign,
)
from benchmarks.burst.dynamodb_model import DynamoDBModel, Latencies, label_of
from benchmarks.burst.executions import Execution, ExecutionRunner
from benchmarks.burst.fast_paths import fast_parser, faster_moto
from benchmarks.burst.observer import PrefixObserver
from benchmarks.burst.simulation import Simulation, simulated_time
from benchmarks.burst.step_functions import StepFunctionsModel, render_workflow
from lease_ops.sandbox.embedded_platform import quiet_lambda_telemetry

# The core's own client settings (its retries: botocore's standard mode); requests are not signed (moto
# checks no signature, and signing is ~0.3 ms of CPU a request that changes nothing simulated).
MODELLED_CLIENT_CONFIG = lambda_client_config().merge(Config(signature_version=UNSIGNED))
REGION = "eu-central-1"
ACCOUNT = "123456789012"
TABLE = "regional-concurrency-leases"
TTL_SECONDS = 600  # the analytics workload's LEASE_TTL_SECONDS


@dataclass(frozen=True)
class PrefixPlan:
    prefix: str
    cap: int
    executions: int


@dataclass(frozen=True)
class RunPlan:
    scenario: str
    design: str
    wait_mode: str
    prefixes: tuple[PrefixPlan, ...]
    arrival_seconds: float = 60.0
    process_seconds: tuple[float, float] = (30.0, 120.0)
    seed: int = 1
    lost_wakeup_bound: float = 5.0
    max_simulated_seconds: float = 12 * 3600.0
    latencies: Latencies = field(default_factory=Latencies)

    @property
    def label(self) -> str:
        mode = f" ({self.wait_mode})" if self.design == LEASE_CORE else ""
        return f"{self.scenario}: {self.design}{mode}"

    @property
    def executions(self) -> int:
        return sum(prefix.executions for prefix in self.prefixes)


MIX_CAPS = (5, 15, 50, 100, 500)


def mix_prefixes(total: int, caps: tuple[int, ...] = MIX_CAPS) -> tuple[PrefixPlan, ...]:
    """A regional mix: one prefix per cap, executions in proportion to the cap (so each drains in about the
    same time), ``total`` in all."""
    weights = sum(caps)
    counts = [max(1, round(total * cap / weights)) for cap in caps]
    return tuple(PrefixPlan(f"mix-cap-{cap}", cap, count) for cap, count in zip(caps, counts, strict=True))


def _design(plan: RunPlan, prefix: PrefixPlan, simulation: Simulation, task_seconds: int) -> Design:
    table = f"burst-{plan.design}" if plan.design != LEASE_CORE else TABLE
    if plan.design == LEASE_CORE:
        return LeaseCoreDesign(
            table,
            prefix.prefix,
            prefix.cap,
            wait_mode=plan.wait_mode,
            ttl_seconds=TTL_SECONDS,
            task_seconds=task_seconds,
            clock=simulation.clock,
        )
    if plan.design == COUNT_THEN_PUT:
        return CountThenPutDesign(table, prefix.prefix, prefix.cap, ttl_seconds=TTL_SECONDS)
    if plan.design == COUNTER_OWNER:
        # Its retries of a failed condition are its state machine's Retry, not time in a function.
        return CounterOwnerDesign(
            table, prefix.prefix, prefix.cap, sleep=lambda seconds: simulation.sleep(seconds, outside_the_function=True)
        )
    raise ValueError(f"unknown design {plan.design!r}")


def run_plan(plan: RunPlan, progress: Callable[[str], None] | None = None, every: float = 10.0) -> dict[str, Any]:
    """Simulate ``plan``; returns its results (per prefix, the DynamoDB meter, and the run's own figures)."""
    random.seed(plan.seed)  # the core's pauses and botocore's retry jitter draw from the global generator
    rng = random.Random(plan.seed)
    started = time.monotonic()
    workflow = render_workflow(plan.wait_mode if plan.design == LEASE_CORE else "poll")
    with mock_aws(), faster_moto(), quiet_lambda_telemetry(logging.CRITICAL):
        simulation = Simulation()
        model = DynamoDBModel(simulation, random.Random(plan.seed + 1), region=REGION, latencies=plan.latencies)
        stepfunctions = StepFunctionsModel(simulation, random.Random(plan.seed + 2))
        session = botocore.session.get_session()

        def client() -> Any:
            worker = simulation.current_worker()
            assert worker is not None
            existing = worker.state.get("dynamodb")
            if existing is None:
                created = session.create_client(
                    "dynamodb",
                    region_name=REGION,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    config=MODELLED_CLIENT_CONFIG,
                )
                existing = worker.state["dynamodb"] = fast_parser(model.attach(created))
            return existing

        # Outside the model: set-up as a deploy does it, and the observer's reads of the table.
        set_up = fast_parser(
            boto3.client("dynamodb", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        )
        task_seconds = int(workflow.state("Process")["TimeoutSeconds"])
        designs = [_design(plan, prefix, simulation, task_seconds) for prefix in plan.prefixes]
        for table in sorted({design.table for design in designs}):
            next(design for design in designs if design.table == table).create_table(set_up)
        for design in designs:
            design.set_up(set_up)
        observers = [
            PrefixObserver(
                simulation,
                plan.design,
                design.wait_mode,
                prefix.prefix,
                prefix.cap,
                prefix.executions,
                plan.lost_wakeup_bound,
            )
            for design, prefix in zip(designs, plan.prefixes, strict=True)
        ]
        watched = list(zip(designs, observers, strict=True))

        def after_write(table: str, partitions: set[tuple[str, str]]) -> None:
            """Count a prefix's holders after every write that changed one of its items (keys start with it)."""
            labels = {label_of(partition) for partition in partitions}
            for design, observer in watched:
                if design.table == table and design.prefix in labels:
                    observer.holders_now(design.holders_in_table(set_up, model.items_in_partition))

        model.write_listeners.append(after_write)
        runner = ExecutionRunner(simulation, random.Random(plan.seed + 3), stepfunctions, client)
        executions = []
        for design, observer, prefix in zip(designs, observers, plan.prefixes, strict=True):
            machine = f"shared-lease-platform-{prefix.prefix}-workflow"
            for index in range(prefix.executions):
                name = str(uuid.UUID(int=rng.getrandbits(128)))
                executions.append(
                    Execution(
                        index=index,
                        arn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine}:{name}",
                        design=design,
                        observer=observer,
                        workflow=workflow,
                        arrival=rng.uniform(0.0, plan.arrival_seconds),
                        process_seconds=rng.uniform(*plan.process_seconds),
                    )
                )
        for execution in executions:
            simulation.at(execution.arrival, lambda execution=execution: runner.start(execution))

        last_report = time.monotonic()
        with (
            simulated_time(simulation, sleeping=[botocore.endpoint], clocked=[*pausing_modules(), count_then_put]),
            seeded_secrets(random.Random(plan.seed + 4)),
        ):
            while simulation.pending() and simulation.now < plan.max_simulated_seconds:
                simulation.run(until=min(simulation.now + 5.0, plan.max_simulated_seconds))
                if progress is not None and time.monotonic() - last_report >= every:
                    last_report = time.monotonic()
                    progress(_progress_line(plan, simulation, observers, model, started))
        for observer in observers:
            observer.finish()
        result = {
            "scenario": plan.scenario,
            "design": plan.design,
            "wait_mode": plan.wait_mode if plan.design == LEASE_CORE else "poll",
            "label": plan.label,
            "plan": {**asdict(plan), "prefixes": [asdict(prefix) for prefix in plan.prefixes]},
            "prefixes": [observer.result() for observer in observers],
            "dynamodb": model.meter.as_dict(),
            "step_functions_calls": dict(stepfunctions.calls),
            "simulated_seconds": simulation.now,
            "wall_seconds": time.monotonic() - started,
            "events": simulation.events,
            "peak_concurrent_invocations": simulation.peak_busy_workers,
            "execution_environments": len(simulation.workers),
            "unexpected_errors": dict(runner.unexpected),
            "first_unexpected_errors": runner.first_unexpected,
        }
        simulation.close()
    if progress is not None:
        progress(_progress_line(plan, simulation, observers, model, started, final=True))
    return result


def _progress_line(
    plan: RunPlan,
    simulation: Simulation,
    observers: list[PrefixObserver],
    model: DynamoDBModel,
    started: float,
    *,
    final: bool = False,
) -> str:
    admitted = sum(len(observer.admissions) for observer in observers)
    failed = sum(sum(observer.failed.values()) for observer in observers)
    waiting = sum(observer.waiting for observer in observers)
    throttled = sum(model.meter.throttled.values())
    conflicts = sum(model.meter.conflicts.values())
    word = "done" if final else "at"
    return (
        f"  {plan.label}: {word} {simulation.now:,.0f} simulated s ({time.monotonic() - started:,.0f} s wall): "
        f"{admitted:,}/{plan.executions:,} admitted, {waiting:,} waiting, {failed:,} failed closed, "
        f"{sum(model.meter.requests.values()):,} requests, {throttled:,} throttled, {conflicts:,} conflicts"
    )
