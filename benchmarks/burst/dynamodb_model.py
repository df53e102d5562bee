"""DynamoDB as the burst benchmark sees it: moto stores the items and evaluates the expressions, and this
model adds what moto leaves out, in simulated time, for every request a worker sends.

It sits in each modelled client's ``before-send`` event, in place of moto's own stubber (which is
unregistered from that client and called from here), so every attempt botocore makes, retries
included, goes through it:

1. the request reaches the table at once (its way there is added to the way back: one pause per request
   keeps the simulation fast, and the order of requests is the order they were sent);
2. **throttling**, per partition: each partition has a token bucket of write units (1,000 per second)
   and one of read units (3,000 per second), refilled in simulated time and holding one second's
   worth. "Each partition on the table can serve up to 3,000 read request units or 1,000 write request
   units" in on-demand mode too
   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html,
   https://repost.aws/knowledge-center/on-demand-table-throttling-dynamodb); burst capacity does not
   lift a partition over that, and adaptive capacity at best isolates one hot item on its own
   partition, still capped there
   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/burst-adaptive-capacity.html).
   The model takes **each distinct partition key as its own partition** (what adaptive capacity
   converges to for a hot key; pessimistic for a large item collection, such as a queue, which
   DynamoDB may split by sort key). A request is refused while a bucket it needs is empty; a
   request let in is charged its real units afterwards, which may take the bucket below zero (DynamoDB
   cannot know a write's size before it runs either). An on-demand table answers a hot key with
   ``ThrottlingException`` ("Throughput exceeds the current capacity of your table or index ... check if
   you have a hot key", as reported from on-demand tables, e.g.
   https://github.com/praetorian-inc/chariot-ui/issues/684), carrying a ``KeyRangeThroughputExceeded``
   throttling reason (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/throttling-key-range-limit-exceeded-mitigation.html);
   ``ProvisionedThroughputExceededException`` is the provisioned-mode answer. botocore retries both
   as throttling errors and the core turns both into ``LeaseStoreUnavailable``, so the choice changes
   no path. A throttled ``TransactWriteItems`` is cancelled with the reason ``ThrottlingError`` on the
   throttled items (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html,
   "There is insufficient provisioned capacity for the transaction to be completed"). Throttled
   requests are not billed. Table-level on-demand limits (40,000 units per second by default, and
   "double the previous peak") are not modelled: one partition's limits bind long before.
3. **transaction conflicts**: a ``TransactWriteItems`` holds every item it touches for its duration
   (it is applied at its start, and answered at its end). Per
   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling,
   a ``PutItem``, ``UpdateItem`` or ``DeleteItem`` on an item that an ongoing transaction includes fails
   with ``TransactionConflictException``, and a transaction that includes an item of another ongoing
   transaction is cancelled (``TransactionCanceledException``, reason ``TransactionConflict`` on that
   item, ``None`` on the others). Reads (``GetItem``, ``Query``, ``BatchGetItem``) never conflict. The model applies a
   transaction when it reaches the table, so a read during its hold sees its result, where DynamoDB would
   answer the state before it until it commits (tens of milliseconds earlier than DynamoDB, at most). A
   single write is applied at once and holds nothing, so a transaction never meets one in progress. A
   rejected request holds nothing and is not billed.
4. **the 400 KB item size**, counted DynamoDB's way
   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html,
   https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-items): a
   ``PutItem`` of a larger item is refused before it runs; a write whose result is larger is undone
   and answered ``ValidationException`` (a transaction: cancelled with ``ValidationError``). moto's own
   check counts sizes differently (numbers by digits, no map overhead).
5. moto runs the request, and the answer reaches the caller after the round trip and the operation's
   service time.

**Billing** (the meter), by the rules of
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html, from
the stored item sizes just before and just after the request: a write costs ceil(larger of the item
before and after / 1 KB) write units, a write whose condition failed too; a ``TransactWriteItems``
twice its items' units (one cancelled because a condition failed included: it ran its checks); a
strongly consistent ``GetItem`` ceil(item / 4 KB) read units (half if eventually consistent), whatever
its projection; a ``Query`` the sizes of the items it read, summed and rounded up to 4 KB; a ``BatchGetItem``
each item as its own ``GetItem``, in one round trip. A ``BatchGetItem`` that needs a throttled partition is
refused whole ("If none of the items can be processed due to insufficient provisioned throughput ... returns
a ProvisionedThroughputExceededException",
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html): the core's batches read
one partition, where all of a batch or none of it is throttled, so the partial answer (``UnprocessedKeys``)
is not modelled. Sizes use
``benchmarks.capacity.item_size`` (the rules the existing ``make bench`` meter uses).
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.botocore_stubber import MockRawResponse
from moto.core.models import botocore_stubber
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from benchmarks.burst.simulation import Simulation
from benchmarks.capacity import READ_UNIT_BYTES, WRITE_UNIT_BYTES, _number_size, item_size, value_size

PARTITION_WRITE_UNITS_PER_SECOND = 1000.0
PARTITION_READ_UNITS_PER_SECOND = 3000.0
MAX_ITEM_BYTES = 400 * 1024
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
ON_DEMAND_THROTTLE_MESSAGE = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your "
    "table or index so please try again shortly. If exceptions persist, check if you have a hot key: "
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
)
PLAIN_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
READS = frozenset({"GetItem", "Query", "BatchGetItem"})
MODELLED = PLAIN_WRITES | READS | {"TransactWriteItems"}
_HASH_KEY_CONDITION = re.compile(r"^\s*\(?\s*(?P<name>#?[\w]+)\s*=\s*(?P<value>:[\w]+)")


@dataclass(frozen=True)
class Latencies:
    """Simulated seconds, each drawn uniformly from its range. Assumed, not measured: DynamoDB documents
    "single-digit millisecond" latency, and transactions run two phases over every item."""

    network: tuple[float, float] = (0.0005, 0.0015)  # one way, a Lambda to DynamoDB in its region
    single_item: tuple[float, float] = (0.002, 0.006)  # GetItem, PutItem, UpdateItem, DeleteItem
    query: tuple[float, float] = (0.003, 0.008)  # plus query_per_megabyte for what it reads
    query_per_megabyte: float = 0.02
    transaction: tuple[float, float] = (0.015, 0.030)  # how long a TransactWriteItems holds its items
    refusal: tuple[float, float] = (0.0005, 0.001)  # a throttled or conflicting request is answered fast


@dataclass
class Bucket:
    rate: float
    tokens: float
    last: float = 0.0

    def refill(self, now: float) -> float:
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        return self.tokens


@dataclass(frozen=True)
class Target:
    """One item a request touches (``sort`` None: a Query of the whole partition)."""

    table: str
    partition: tuple[str, str]
    sort: tuple[str, str] | None
    key: dict[str, Any]


@dataclass
class Meter:
    """Everything the model counted; ``label`` splits by workload (the prefix of a partition key)."""

    requests: Counter[str] = field(default_factory=Counter)  # attempts that reached the table, by operation
    served: Counter[str] = field(default_factory=Counter)  # attempts moto ran
    throttled: Counter[str] = field(default_factory=Counter)
    conflicts: Counter[str] = field(default_factory=Counter)  # TransactionConflictException / ...Canceled
    conditional_failures: Counter[str] = field(default_factory=Counter)
    validation_errors: Counter[str] = field(default_factory=Counter)
    write_units: float = 0.0
    read_units: float = 0.0
    by_label: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "served": dict(self.served),
            "throttled": dict(self.throttled),
            "conflicts": dict(self.conflicts),
            "conditional_failures": dict(self.conditional_failures),
            "validation_errors": dict(self.validation_errors),
            "write_units": self.write_units,
            "read_units": self.read_units,
            "by_label": {label: dict(counts) for label, counts in self.by_label.items()},
        }


def label_of(partition_value: tuple[str, str]) -> str:
    """The workload a partition belongs to: its key up to the first ``#`` (the lease prefix)."""
    return partition_value[1].split("#", 1)[0]


def write_units(size_before: int, size_after: int) -> int:
    """Write units of one item written: by the larger of the item before and after, at least one."""
    return max(1, math.ceil(max(size_before, size_after) / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool) -> float:
    """Read units of reading ``size`` bytes (one item, or a Query's items summed): at least one, half if eventual."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


class DynamoDBModel:
    """The model of one simulated region's DynamoDB, shared by every modelled client of a run."""

    def __init__(
        self,
        simulation: Simulation,
        rng: random.Random,
        *,
        region: str,
        latencies: Latencies = Latencies(),
        write_units_per_second: float = PARTITION_WRITE_UNITS_PER_SECOND,
        read_units_per_second: float = PARTITION_READ_UNITS_PER_SECOND,
    ) -> None:
        self.simulation = simulation
        self.rng = rng
        self.region = region
        self.latencies = latencies
        self.write_rate = write_units_per_second
        self.read_rate = read_units_per_second
        self.meter = Meter()
        self._write_buckets: dict[tuple[str, tuple[str, str]], Bucket] = {}
        self._read_buckets: dict[tuple[str, tuple[str, str]], Bucket] = {}
        self._held_until: dict[tuple[str, tuple[str, str], tuple[str, str] | None], float] = {}
        self._sizes: dict[tuple[str, tuple[str, str], tuple[str, str] | None], int] = {}
        self._schemas: dict[str, tuple[str, str | None]] = {}
        # Called after every write that changed the table, with the table and the partitions it touched.
        self.write_listeners: list[Callable[[str, set[tuple[str, str]]], None]] = []

    # -- wiring -------------------------------------------------------------------------------------

    def attach(self, client: Any) -> Any:
        """Route ``client``'s DynamoDB requests through the model (instead of straight to moto)."""
        client.meta.events.unregister("before-send", botocore_stubber)
        client.meta.events.register_first("before-send.dynamodb", self._before_send, unique_id="burst-dynamodb-model")
        return client

    @property
    def backend(self) -> Any:
        return dynamodb_backends[DEFAULT_ACCOUNT_ID][self.region]

    def _before_send(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        if self.simulation.current_worker() is None or operation not in MODELLED:
            self._sizes.clear()  # set-up, outside simulated time: whatever it wrote is read afresh
            return botocore_stubber(event_name=event_name, request=request)
        body = json.loads(request.body or b"{}")
        return self._at_the_table(operation, body, request, event_name)

    # -- the table ----------------------------------------------------------------------------------

    def _at_the_table(
        self, operation: str, body: dict[str, Any], request: AWSPreparedRequest, event_name: str
    ) -> AWSResponse:
        now = self.simulation.now
        targets = self._targets(operation, body)
        labels = {label_of(target.partition) for target in targets}
        self._count("requests", operation, labels)
        reading = operation in READS

        throttled = [target for target in targets if self._bucket(target, reading=reading).refill(now) <= 0]
        if throttled:
            self._count("throttled", operation, labels)
            return self._refuse(request, self._throttled(operation, targets, throttled, reading=reading))

        held = [target for target in targets if self._held_until.get(self._item(target), -1.0) > now]
        if held and operation not in READS:
            kind = "TransactionConflictException" if operation in PLAIN_WRITES else "TransactionCanceledException"
            self._count("conflicts", kind, labels)
            return self._refuse(request, self._conflict(operation, targets, held))

        if operation == "PutItem" and item_size(body.get("Item")) > MAX_ITEM_BYTES:
            self._count("validation_errors", operation, labels)
            return self._refuse(
                request, _error("ValidationException", "Item size has exceeded the maximum allowed size")
            )
        if operation == "TransactWriteItems" and any(
            item_size(action["Put"]["Item"]) > MAX_ITEM_BYTES for action in body["TransactItems"] if "Put" in action
        ):
            self._count("validation_errors", operation, labels)
            return self._refuse(request, _cancelled([_reason("ValidationError") for _ in targets]))

        if operation in READS:
            response = botocore_stubber(event_name=event_name, request=request)
            self._bill_read(operation, body, targets, response, labels)
        else:
            response = self._write(operation, body, request, event_name, targets, labels)
        self._count("served", operation, labels)
        self._pause(self._draw(self.latencies.network) * 2 + self._service_time(operation, response))
        return response

    def _write(
        self,
        operation: str,
        body: dict[str, Any],
        request: AWSPreparedRequest,
        event_name: str,
        targets: list[Target],
        labels: set[str],
    ) -> AWSResponse:
        before = [self._size(target) for target in targets]
        risky = [
            target
            for target, size in zip(targets, before, strict=True)
            if size + len(request.body or b"") > MAX_ITEM_BYTES
        ]
        saved = {self._item(target): self._stored_json(target) for target in risky}
        response = botocore_stubber(event_name=event_name, request=request)
        code = _error_code(response)
        after = [self._size(target, fresh=True) for target in targets] if code is None else before
        if any(size > MAX_ITEM_BYTES for size in after):
            for target in risky:
                self._restore(target, saved[self._item(target)])
            for target in targets:
                self._size(target, fresh=True)
            self._count("validation_errors", operation, labels)
            if operation == "TransactWriteItems":
                return _response(request, _cancelled([_reason("ValidationError") for _ in targets]))
            return _response(
                request, _error("ValidationException", "Item size to update has exceeded the maximum allowed size")
            )
        if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
            self._count("conditional_failures", operation, labels)
        elif code is not None:
            self._count("validation_errors", f"{operation}:{code}", labels)
            return response  # refused by moto's own checks: not billed, holds nothing
        factor = 2 if operation == "TransactWriteItems" else 1
        for target, size_before, size_after in zip(targets, before, after, strict=True):
            units = factor * write_units(size_before, size_after)
            self._bucket(target, reading=False).tokens -= units
            self.meter.write_units += units
            self.meter.by_label[label_of(target.partition)]["write_units"] += units
        if operation == "TransactWriteItems":
            until = self.simulation.now + self._draw(self.latencies.transaction)
            for target in targets:
                self._held_until[self._item(target)] = until
            response.transaction_seconds = until - self.simulation.now  # type: ignore[attr-defined]
        if code is None:  # a failed condition changed nothing
            partitions_by_table: dict[str, set[tuple[str, str]]] = defaultdict(set)
            for target in targets:
                partitions_by_table[target.table].add(target.partition)
            for table, partitions in partitions_by_table.items():
                for listener in self.write_listeners:
                    listener(table, partitions)
        return response

    def _bill_read(
        self, operation: str, body: dict[str, Any], targets: list[Target], response: AWSResponse, labels: set[str]
    ) -> None:
        if _error_code(response) is not None:
            return
        if operation == "BatchGetItem":
            for target in targets:  # each item billed as its own GetItem
                consistent = bool(body["RequestItems"][target.table].get("ConsistentRead"))
                self._bill_units(target, read_units(self._size(target), consistent=consistent))
            return
        consistent = bool(body.get("ConsistentRead"))
        (target,) = targets
        if operation == "GetItem":
            size = self._size(target)
        else:
            size = sum(self._size(item) for item in self._items_read(body, target, response))
        self._bill_units(target, read_units(size, consistent=consistent))

    def _bill_units(self, target: Target, units: float) -> None:
        self._bucket(target, reading=True).tokens -= units
        self.meter.read_units += units
        self.meter.by_label[label_of(target.partition)]["read_units"] += units

    def _items_read(self, body: dict[str, Any], target: Target, response: AWSResponse) -> list[Target]:
        """The items a Query page read: those it returned, or (a filter or a count) the ones it scanned."""
        answer = json.loads(response.content)
        table = self.backend.get_table(target.table)
        hash_name, range_name = self._schema(target.table)
        if "FilterExpression" not in body and body.get("Select") != "COUNT" and "ProjectionExpression" not in body:
            return [
                Target(target.table, target.partition, _scalar(item[range_name]) if range_name else None, item)
                for item in answer.get("Items", [])
            ]
        stored = table.items.get(DynamoType(dict([target.partition])), {})
        ordered = sorted(
            stored.values(), key=lambda item: item.range_key, reverse=body.get("ScanIndexForward") is False
        )
        start = body.get("ExclusiveStartKey")
        if start is not None and range_name is not None:
            start_value = DynamoType(start[range_name])
            ordered = [
                item
                for item in ordered
                if (
                    item.range_key < start_value
                    if body.get("ScanIndexForward") is False
                    else item.range_key > start_value
                )
            ]
        scanned = ordered[: int(answer.get("ScannedCount", len(ordered)))]
        return [
            Target(
                target.table,
                target.partition,
                _scalar(item.range_key.to_json()) if range_name else None,
                {hash_name: dict([target.partition])},
            )
            for item in scanned
        ]

    # -- refusals -----------------------------------------------------------------------------------

    def _refuse(self, request: AWSPreparedRequest, error: tuple[int, dict[str, Any]]) -> AWSResponse:
        self._pause(self._draw(self.latencies.network) * 2 + self._draw(self.latencies.refusal))
        return _response(request, error)

    def _throttled(
        self, operation: str, targets: list[Target], throttled: list[Target], *, reading: bool
    ) -> tuple[int, dict[str, Any]]:
        if operation == "TransactWriteItems":
            return _cancelled(
                [
                    _reason("ThrottlingError", ON_DEMAND_THROTTLE_MESSAGE) if t in throttled else _reason("None")
                    for t in targets
                ]
            )
        kind = "Read" if reading else "Write"
        return _error(
            "ThrottlingException",
            ON_DEMAND_THROTTLE_MESSAGE,
            throttlingReasons=[
                {
                    "reason": f"Table{kind}KeyRangeThroughputExceeded",
                    "resource": f"arn:aws:dynamodb:{self.region}:{DEFAULT_ACCOUNT_ID}:table/{throttled[0].table}",
                }
            ],
        )

    def _conflict(self, operation: str, targets: list[Target], held: list[Target]) -> tuple[int, dict[str, Any]]:
        if operation in PLAIN_WRITES:
            return _error("TransactionConflictException", "Transaction is ongoing for the item")
        return _cancelled(
            [
                _reason("TransactionConflict", "Transaction is ongoing for the item") if t in held else _reason("None")
                for t in targets
            ]
        )

    # -- items and partitions -----------------------------------------------------------------------

    def _schema(self, table_name: str) -> tuple[str, str | None]:
        schema = self._schemas.get(table_name)
        if schema is None:
            table = self.backend.get_table(table_name)
            schema = self._schemas[table_name] = (table.hash_key_attr, table.range_key_attr)
        return schema

    def _target(self, table_name: str, key: dict[str, Any]) -> Target:
        hash_name, range_name = self._schema(table_name)
        partition = _scalar(key[hash_name])
        sort = _scalar(key[range_name]) if range_name else None
        return Target(table_name, partition, sort, key)

    def _targets(self, operation: str, body: dict[str, Any]) -> list[Target]:
        if operation in ("GetItem", "UpdateItem", "DeleteItem"):
            return [self._target(body["TableName"], body["Key"])]
        if operation == "PutItem":
            return [self._target(body["TableName"], body["Item"])]
        if operation == "Query":
            match = _HASH_KEY_CONDITION.match(body.get("KeyConditionExpression", ""))
            if match is None:
                raise ValueError(f"unsupported KeyConditionExpression {body.get('KeyConditionExpression')!r}")
            value = body["ExpressionAttributeValues"][match["value"]]
            return [Target(body["TableName"], _scalar(value), None, {})]
        if operation == "BatchGetItem":
            return [self._target(table, key) for table, asked in body["RequestItems"].items() for key in asked["Keys"]]
        targets = []
        for action in body["TransactItems"]:
            ((_, detail),) = action.items()
            targets.append(self._target(detail["TableName"], detail.get("Key") or detail["Item"]))
        return targets

    def _item(self, target: Target) -> tuple[str, tuple[str, str], tuple[str, str] | None]:
        return (target.table, target.partition, target.sort)

    def _bucket(self, target: Target, *, reading: bool) -> Bucket:
        buckets, rate = (self._read_buckets, self.read_rate) if reading else (self._write_buckets, self.write_rate)
        key = (target.table, target.partition)
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = Bucket(rate=rate, tokens=rate, last=self.simulation.now)
        return bucket

    def _moto_item(self, target: Target) -> Any:
        table = self.backend.get_table(target.table)
        return table.get_item(
            DynamoType(dict([target.partition])), DynamoType(dict([target.sort])) if target.sort else None
        )

    def _stored_json(self, target: Target) -> dict[str, Any] | None:
        item = self._moto_item(target)
        return None if item is None else item.to_json()["Attributes"]

    def _size(self, target: Target, *, fresh: bool = False) -> int:
        """The stored item's size (cached; ``fresh`` after a write changed it)."""
        key = self._item(target)
        size = None if fresh else self._sizes.get(key)
        if size is None:
            size = self._sizes[key] = stored_item_size(self._moto_item(target))
        return size

    def _restore(self, target: Target, attributes: dict[str, Any] | None) -> None:
        table = self.backend.get_table(target.table)
        if attributes is None:
            table.delete_item(
                DynamoType(dict([target.partition])), DynamoType(dict([target.sort])) if target.sort else None
            )
        else:
            table.put_item(attributes)

    def items_in_partition(self, table: str, partition: str) -> int:
        """How many items the table stores under the string partition key ``partition`` (not billed, no time)."""
        return len(self.backend.get_table(table).items.get(DynamoType({"S": partition}), {}))

    def item_size_now(self, table: str, key: dict[str, Any]) -> int:
        """A stored item's size in bytes, DynamoDB's way (for tests and reports)."""
        return self._size(self._target(table, key), fresh=True)

    # -- time ---------------------------------------------------------------------------------------

    def _draw(self, bounds: tuple[float, float]) -> float:
        return self.rng.uniform(*bounds)

    def _pause(self, bounds: tuple[float, float] | float) -> None:
        seconds = bounds if isinstance(bounds, float) else self._draw(bounds)
        if seconds > 0:
            self.simulation.sleep(seconds)

    def _service_time(self, operation: str, response: AWSResponse) -> float:
        if operation == "TransactWriteItems":
            return float(getattr(response, "transaction_seconds", self._draw(self.latencies.transaction)))
        if operation == "Query":
            megabytes = len(response.content) / 1_000_000
            return self._draw(self.latencies.query) + megabytes * self.latencies.query_per_megabyte
        return self._draw(self.latencies.single_item)

    def _count(self, kind: str, name: str, labels: set[str]) -> None:
        getattr(self.meter, kind)[name] += 1
        for label in labels:
            self.meter.by_label[label][kind] += 1


def stored_value_size(value: DynamoType) -> int:
    """``benchmarks.capacity.value_size`` of a value as moto stores it (without building its JSON first)."""
    kind, content = value.type, value.value
    if kind == "S":
        return len(content.encode("utf-8"))
    if kind == "N":
        return _number_size(content)
    if kind == "M":
        return 3 + sum(len(key.encode("utf-8")) + stored_value_size(item) + 1 for key, item in content.items())
    if kind == "L":
        return 3 + sum(stored_value_size(item) + 1 for item in content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(item.encode("utf-8")) for item in content)
    if kind == "NS":
        return sum(_number_size(item) for item in content)
    return value_size(value.to_json())


def stored_item_size(item: Any) -> int:
    """``benchmarks.capacity.item_size`` of an item as moto stores it; 0 for no item."""
    if item is None:
        return 0
    return sum(len(name.encode("utf-8")) + stored_value_size(value) for name, value in item.attrs.items())


def _scalar(value: dict[str, Any]) -> tuple[str, str]:
    ((kind, content),) = value.items()
    return (kind, str(content))


def _error_code(response: AWSResponse) -> str | None:
    if response.status_code < 300:
        return None
    error_type = json.loads(response.content).get("__type", "")
    return error_type.rsplit("#", 1)[-1]


def _error(code: str, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return 400, {"__type": ERROR_PREFIX + code, "message": message, **extra}


def _reason(code: str, message: str | None = None) -> dict[str, str]:
    return {"Code": code} if message is None else {"Code": code, "Message": message}


def _cancelled(reasons: list[dict[str, str]]) -> tuple[int, dict[str, Any]]:
    codes = ", ".join(reason["Code"] for reason in reasons)
    return 400, {
        "__type": ERROR_PREFIX + "TransactionCanceledException",
        "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        "CancellationReasons": reasons,
    }


def _response(request: AWSPreparedRequest, error: tuple[int, dict[str, Any]]) -> AWSResponse:
    status, body = error
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "burst-model"}
    return AWSResponse(request.url, status, headers, MockRawResponse(json.dumps(body)))  # type: ignore[arg-type]
