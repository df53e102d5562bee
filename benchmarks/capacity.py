"""DynamoDB capacity, counted as DynamoDB bills it, for every request the embedded moto server answers.

moto does not bill by size, so the meter wraps moto's DynamoDB backend: each
write is billed ceil(max(item before, item after) / 1 KB) write units (a failed
conditional write too), each strongly consistent GetItem ceil(item / 4 KB) read
units, a Query the size of the items it reads (the queried partition, up to
its Limit), summed and rounded up to 4 KB, and a BatchGetItem each item as its own
GetItem (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
A TransactWriteItems is one request billed twice the write units of each item it
writes, as DynamoDB bills transactions (a cancelled one too: this errs against the
design that uses them).
Item sizes follow DynamoDB's rules (attribute names count; numbers take about
one byte per two significant digits, plus one; maps and lists three bytes plus
one byte per element).

The benchmark's server answers one request at a time, so reading the item just
before and just after a write is exact.
"""

from __future__ import annotations

import math
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.responses import DynamoHandler

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """The size of one low-level attribute value, e.g. {"S": "x"} or {"M": {...}}."""
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode("utf-8"))
    if kind == "N":
        return _number_size(content)
    if kind == "B":
        return len(content) if isinstance(content, bytes | bytearray) else len(str(content))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(key.encode("utf-8")) + value_size(item) + 1 for key, item in content.items())
    if kind == "L":
        return 3 + sum(value_size(item) + 1 for item in content)
    if kind == "SS":
        return sum(len(item.encode("utf-8")) for item in content)
    if kind == "NS":
        return sum(_number_size(item) for item in content)
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: dict[str, Any] | None) -> int:
    """Bytes of a low-level item: every attribute name plus its value."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


_HASH_KEY_CONDITION = re.compile(r"^\s*(?P<name>#?\w+)\s*=\s*(?P<value>:\w+)")


def queried_items(backend: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The items a Query reads: those of its partition (the hash key condition), in order, up to its Limit."""
    table = backend.get_table(body["TableName"])
    match = _HASH_KEY_CONDITION.match(body.get("KeyConditionExpression", ""))
    name = body.get("ExpressionAttributeNames", {}).get(match["name"], match["name"]) if match else None
    value = body.get("ExpressionAttributeValues", {}).get(match["value"]) if match else None
    if name == table.hash_key_attr and value is not None and table.range_key_attr:
        # Only the queried partition (a queue of 100,000 waiters must not make every Query read the table).
        partition = table.items.get(DynamoType(value), {})
        stored = sorted(partition.values(), key=lambda item: str(item.range_key.value if item.range_key else ""))
    else:
        stored = table.all_items()
    if not body.get("ScanIndexForward", True):
        stored = list(reversed(stored))
    if "Limit" in body:
        stored = stored[: body["Limit"]]
    items = [item.to_json()["Attributes"] for item in stored]
    if match is not None and name != table.hash_key_attr:
        items = [item for item in items if item.get(name) == value]
    return items


@dataclass
class TableUsage:
    requests: int = 0
    write_units: int = 0
    read_units: int = 0
    bytes_written: int = 0  # billed bytes of writes (the larger item image)
    bytes_read: int = 0


class CapacityMeter:
    """Per table: requests, write and read units, billed bytes; started and stopped around a run."""

    def __init__(self) -> None:
        self.usage: dict[str, TableUsage] = defaultdict(TableUsage)
        self._lock = threading.Lock()
        self._in_transaction = threading.local()

    def snapshot(self, table: str) -> TableUsage:
        with self._lock:
            usage = self.usage[table]
            return TableUsage(
                usage.requests, usage.write_units, usage.read_units, usage.bytes_written, usage.bytes_read
            )

    def _write(self, table: str, billed_bytes: int, *, requests: int = 1, unit_factor: int = 1) -> None:
        if getattr(self._in_transaction, "active", False) and unit_factor == 1:
            return  # an item of a transaction: the transaction bills it
        with self._lock:
            usage = self.usage[table]
            usage.requests += requests
            usage.write_units += unit_factor * max(1, math.ceil(billed_bytes / WRITE_UNIT_BYTES))
            usage.bytes_written += billed_bytes

    def _read(self, table: str, billed_bytes: int) -> None:
        self._read_items(table, [billed_bytes])

    def _read_items(self, table: str, billed_bytes: list[int]) -> None:
        """One request reading several items, each rounded up to 4 KB on its own (BatchGetItem)."""
        with self._lock:
            usage = self.usage[table]
            usage.requests += 1
            usage.read_units += sum(max(1, math.ceil(size / READ_UNIT_BYTES)) for size in billed_bytes)
            usage.bytes_read += sum(billed_bytes)

    @contextmanager
    def installed(self) -> Iterator[CapacityMeter]:
        """Wrap moto's DynamoDB while the block runs (the benchmark's moto server is in this process)."""
        originals = {name: getattr(DynamoDBBackend, name) for name in ("put_item", "update_item", "delete_item")}
        transaction_original = DynamoDBBackend.transact_write_items
        handler_originals = {name: getattr(DynamoHandler, name) for name in ("get_item", "query", "batch_get_item")}
        meter = self

        def stored(backend: Any, table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
            table = backend.get_table(table_name)
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            item = table.get_item(hash_value, range_value)
            return item.to_json()["Attributes"] if item is not None else None

        def billed_write(
            original: Callable[..., Any], key_of: Callable[[Any, str, tuple[Any, ...], dict[str, Any]], dict[str, Any]]
        ) -> Callable[..., Any]:
            def wrapper(backend: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
                key = key_of(backend, table_name, args, kwargs)
                before = item_size(stored(backend, table_name, key))
                try:
                    return original(backend, table_name, *args, **kwargs)
                finally:
                    meter._write(table_name, max(before, item_size(stored(backend, table_name, key))))

            return wrapper

        def key_from_item(
            backend: Any, table_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> dict[str, Any]:
            item = kwargs.get("item_attrs", args[0] if args else {})
            table = backend.get_table(table_name)
            return {name: item[name] for name in (table.hash_key_attr, table.range_key_attr) if name}

        def key_argument(name: str) -> Callable[[Any, str, tuple[Any, ...], dict[str, Any]], dict[str, Any]]:
            return lambda backend, table_name, args, kwargs: kwargs.get(name, args[0] if args else {})

        # Reads are billed where the client's request is answered: moto's own code also calls the
        # backend's get_item (to build ReturnValues), and that is not a read the client pays for.
        def billed_read(original: Callable[..., Any], whole_partition: bool) -> Callable[..., Any]:
            def wrapper(handler: Any) -> Any:
                result = original(handler)
                backend, body = handler.dynamodb_backend, handler.body
                if whole_partition:
                    billed = sum(item_size(item) for item in queried_items(backend, body))
                else:
                    billed = item_size(stored(backend, body["TableName"], body["Key"]))
                meter._read(body["TableName"], billed)
                return result

            return wrapper

        def billed_batch_read(original: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(handler: Any) -> Any:
                result = original(handler)
                backend = handler.dynamodb_backend
                for table_name, asked in handler.body["RequestItems"].items():
                    sizes = [item_size(stored(backend, table_name, key)) for key in asked["Keys"]]
                    meter._read_items(table_name, sizes)
                return result

            return wrapper

        def transaction_key(backend: Any, operation: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            table_name = operation["TableName"]
            if "Key" in operation:
                return table_name, operation["Key"]
            return table_name, key_from_item(backend, table_name, (operation["Item"],), {})

        def billed_transaction(original: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(backend: Any, transact_items: list[dict[str, Any]]) -> Any:
                keys = [transaction_key(backend, next(iter(item.values()))) for item in transact_items]
                before = [item_size(stored(backend, table, key)) for table, key in keys]
                meter._in_transaction.active = True
                try:
                    return original(backend, transact_items)
                finally:
                    meter._in_transaction.active = False
                    for index, ((table, key), size) in enumerate(zip(keys, before, strict=True)):
                        billed = max(size, item_size(stored(backend, table, key)))
                        meter._write(table, billed, requests=1 if index == 0 else 0, unit_factor=2)

            return wrapper

        DynamoDBBackend.transact_write_items = billed_transaction(transaction_original)  # type: ignore[method-assign]

        DynamoDBBackend.put_item = billed_write(originals["put_item"], key_from_item)  # type: ignore[method-assign]
        DynamoDBBackend.update_item = billed_write(originals["update_item"], key_argument("key"))  # type: ignore[method-assign]
        DynamoDBBackend.delete_item = billed_write(originals["delete_item"], key_argument("key"))  # type: ignore[method-assign]
        DynamoHandler.get_item = billed_read(handler_originals["get_item"], whole_partition=False)  # type: ignore[method-assign]
        DynamoHandler.query = billed_read(handler_originals["query"], whole_partition=True)  # type: ignore[method-assign]
        DynamoHandler.batch_get_item = billed_batch_read(handler_originals["batch_get_item"])  # type: ignore[method-assign]
        try:
            yield self
        finally:
            for name, original in originals.items():
                setattr(DynamoDBBackend, name, original)
            DynamoDBBackend.transact_write_items = transaction_original  # type: ignore[method-assign]
            for name, original in handler_originals.items():
                setattr(DynamoHandler, name, original)
