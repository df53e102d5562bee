"""Small helpers shared by test modules."""

from __future__ import annotations

import contextlib
import importlib.util
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from lease_core import LeaseSemaphore, UnknownPrefix
from lease_core.semaphore import semaphore_key
from lease_ops.chalice_apps import REPOSITORY_ROOT
from lease_ops.table import DEFAULT_TABLE_NAME

REGION = "eu-central-1"


def load_module(relative_path: str) -> ModuleType:
    """Import one source file of the repository under a unique module name."""
    path = REPOSITORY_ROOT / relative_path
    name = "under_test_" + relative_path.replace("/", "_").removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_items(client: Any, table_name: str = DEFAULT_TABLE_NAME) -> list[dict[str, Any]]:
    """Every item of the table, sorted, for before/after comparisons."""
    items = client.scan(TableName=table_name, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def holders_in_table(client: Any, prefix: str, table_name: str = DEFAULT_TABLE_NAME) -> dict[str, int]:
    """Each holder of the prefix with its lease expiry, read straight from the item."""
    item = client.get_item(TableName=table_name, Key=semaphore_key(prefix), ConsistentRead=True).get("Item")
    if not item:
        return {}
    return {holder: int(value["M"]["e"]["N"]) for holder, value in item["holders"]["M"].items()}


def execution_arn(workflow: str, name: str) -> str:
    return f"arn:aws:states:eu-central-1:123456789012:execution:shared-lease-platform-{workflow}-workflow:{name}"


def start(stepfunctions: Any, state_machine: str, name: str) -> str:
    return stepfunctions.start_execution(stateMachineArn=state_machine, name=name)["executionArn"]


def status_change(client: Any, execution: str, status: str, stopped: float) -> dict[str, Any]:
    """An "Execution Status Change" event as EventBridge delivers it."""
    detail = {
        "executionArn": execution,
        "stateMachineArn": execution.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0],
        "name": execution.rsplit(":", 1)[1],
        "status": status,
        "startDate": int((stopped - 30) * 1000),
        "stopDate": int(stopped * 1000),
        "input": "{}",
        "output": None,
    }
    return client.events.generate_cw_event(
        "aws.states", "Step Functions Execution Status Change", detail, [execution], region=REGION
    )


def sweep(client: Any) -> dict[str, int]:
    scheduled = client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [], region=REGION)
    return client.lambda_.invoke("sweeper", scheduled).payload


def race(worker: Callable[[int], None], threads: int, sampled: LeaseSemaphore) -> tuple[list[BaseException], int]:
    """Run ``worker(0..threads-1)`` on real threads released at once, while another thread samples the
    semaphore's holder count; returns the workers' errors and the most holders the table ever had."""
    errors: list[BaseException] = []
    most = [0]
    stop = threading.Event()
    start = threading.Barrier(threads + 1)

    def run(index: int) -> None:
        start.wait()
        try:
            worker(index)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(UnknownPrefix):  # the first acquire has not created it yet
                most[0] = max(most[0], len(sampled.inspect().holders))

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    sampler = threading.Thread(target=sample)
    for thread in [*workers, sampler]:
        thread.start()
    start.wait()
    for thread in workers:
        thread.join(timeout=120)
    stop.set()
    sampler.join(timeout=10)
    return errors, most[0]
