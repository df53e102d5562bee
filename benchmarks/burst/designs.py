"""The designs a burst run compares, behind one interface the simulated executions call.

- ``lease-core`` in ``poll`` or ``handoff`` mode: this project's core, through ``core_calls``;
- ``count-then-put`` and ``counter-and-owner``: the two designs users have today, exactly as
  ``benchmarks/baselines`` implements them (flaws included), each on its own table. They get the same
  workflow around their requests as the core (Retry and the failure path of the rendered definition;
  a DynamoDB error they raise counts as ``LeaseStoreUnavailable``), poll with their own waits (5 s and
  3 s), and do not guard Process. counter-and-owner's own retries of a failed condition (1, 2, 4, ... s,
  6 times; the sample's state machine Retry) run inside its acquire call, in simulated time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from botocore.exceptions import ClientError

from benchmarks.baselines.count_then_put import CountThenPut
from benchmarks.baselines.counter_owner import CounterOwner
from benchmarks.burst.core_calls import LeaseCoreCalls

LEASE_CORE = "lease-core"
COUNT_THEN_PUT = "count-then-put"
COUNTER_OWNER = "counter-and-owner"
DESIGNS = (LEASE_CORE, COUNT_THEN_PUT, COUNTER_OWNER)


class Design(Protocol):
    name: str
    wait_mode: str
    table: str
    prefix: str
    cap: int
    wait_seconds: float | None  # None: the rendered definition's Wait states decide
    guards_process: bool

    def create_table(self, client: Any) -> None: ...

    def set_up(self, client: Any) -> None: ...

    def acquire(
        self, client: Any, stepfunctions: Any, holder: str, token: str | None, since: float
    ) -> dict[str, Any]: ...

    def release(self, client: Any, stepfunctions: Any, holder: str) -> dict[str, Any]: ...

    def check_process(self, client: Any, holder: str, for_seconds: float) -> None: ...

    def holders_in_table(self, unmodelled_client: Any, items_in_partition: Callable[[str, str], int]) -> int:
        """How many hold a slot of ``prefix`` in the table now, read with a client the model does not see (or,
        ``items_in_partition(table, partition key)``, counted where the table stores them)."""
        ...


class LeaseCoreDesign:
    name = LEASE_CORE
    wait_seconds = None
    guards_process = True

    def __init__(
        self, table: str, prefix: str, cap: int, *, wait_mode: str, ttl_seconds: int, task_seconds: int, clock: Any
    ) -> None:
        self.table = table
        self.prefix = prefix
        self.cap = cap
        self.wait_mode = wait_mode
        self.task_seconds = task_seconds
        self.calls = LeaseCoreCalls(table, prefix, cap, ttl_seconds, wait_mode, clock)

    def create_table(self, client: Any) -> None:
        self.calls.create_table(client, self.table)

    def set_up(self, client: Any) -> None:
        self.calls.set_up(client, task_seconds=self.task_seconds)

    def acquire(self, client: Any, stepfunctions: Any, holder: str, token: str | None, since: float) -> dict[str, Any]:
        if self.wait_mode == "handoff":  # the task token, as its .waitForTaskToken task passes it
            return self.calls.acquire(client, stepfunctions, holder, task_token=token)
        return self.calls.acquire(client, stepfunctions, holder, waiting_since=since)  # $$.Execution.StartTime

    def release(self, client: Any, stepfunctions: Any, holder: str) -> dict[str, Any]:
        return self.calls.release(client, stepfunctions, holder)

    def check_process(self, client: Any, holder: str, for_seconds: float) -> None:
        self.calls.check_process(client, holder, for_seconds)

    def holders_in_table(self, unmodelled_client: Any, items_in_partition: Callable[[str, str], int]) -> int:
        return self.calls.holders_in_table(unmodelled_client, items_in_partition)


class LeaseStoreUnavailable(Exception):
    """A baseline's DynamoDB error, named as the core names its own: the workflow retries it the same way."""


def _store_errors(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        raise LeaseStoreUnavailable(f"DynamoDB failed: {code}") from exc


class CountThenPutDesign:
    name = COUNT_THEN_PUT
    wait_mode = "poll"
    guards_process = False

    def __init__(self, table: str, prefix: str, cap: int, *, ttl_seconds: int) -> None:
        self.table = table
        self.prefix = prefix
        self.cap = cap
        self.ttl_seconds = ttl_seconds
        self.wait_seconds = CountThenPut.wait_seconds

    def _design(self, client: Any) -> CountThenPut:
        return CountThenPut(client, self.table, self.prefix, self.cap, ttl_seconds=self.ttl_seconds)

    def create_table(self, client: Any) -> None:
        CountThenPut.create_table(client, self.table)

    def set_up(self, client: Any) -> None:
        return None  # the cap is baked into the deployment

    def acquire(self, client: Any, stepfunctions: Any, holder: str, token: str | None, since: float) -> dict[str, Any]:
        acquired = _store_errors(lambda: self._design(client).acquire(holder))
        return {"status": "acquired" if acquired else "wait"}

    def release(self, client: Any, stepfunctions: Any, holder: str) -> dict[str, Any]:
        _store_errors(lambda: self._design(client).release(holder))
        return {"status": "released"}

    def check_process(self, client: Any, holder: str, for_seconds: float) -> None:
        return None

    def holders_in_table(self, unmodelled_client: Any, items_in_partition: Callable[[str, str], int]) -> int:
        """Unexpired lease items of the prefix: what its own count step counts."""
        return self._design(unmodelled_client).active()


class CounterOwnerDesign:
    name = COUNTER_OWNER
    wait_mode = "poll"
    guards_process = False

    def __init__(self, table: str, prefix: str, cap: int, *, sleep: Callable[[float], None]) -> None:
        self.table = table
        self.prefix = prefix
        self.cap = cap
        self.sleep = sleep
        self.wait_seconds = CounterOwner.wait_seconds

    def _design(self, client: Any) -> CounterOwner:
        return CounterOwner(client, self.table, self.prefix, self.cap, sleep=self.sleep)

    def create_table(self, client: Any) -> None:
        CounterOwner.create_table(client, self.table)

    def set_up(self, client: Any) -> None:
        return None

    def acquire(self, client: Any, stepfunctions: Any, holder: str, token: str | None, since: float) -> dict[str, Any]:
        acquired = _store_errors(lambda: self._design(client).acquire(holder))
        return {"status": "acquired" if acquired else "wait"}

    def release(self, client: Any, stepfunctions: Any, holder: str) -> dict[str, Any]:
        _store_errors(lambda: self._design(client).release(holder))
        return {"status": "released"}

    def check_process(self, client: Any, holder: str, for_seconds: float) -> None:
        return None

    def holders_in_table(self, unmodelled_client: Any, items_in_partition: Callable[[str, str], int]) -> int:
        """Owner attributes on the lock item (everything but its key and its counter), not its counter."""
        item = unmodelled_client.get_item(
            TableName=self.table, Key={"LockName": {"S": self.prefix}}, ConsistentRead=True
        ).get("Item", {})
        return len([name for name in item if name not in ("LockName", "currentlockcount")])
