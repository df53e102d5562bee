"""Faster paths through moto and botocore while a burst run lasts: performance only, the same answers.

A 10,000-execution burst sends hundreds of thousands of requests, many on a 15 KB item with a hundred
holders, and both libraries spend most of their time walking such items generically:

- moto 5.2 serialises a successful answer by walking botocore's output shape member by member (a GetItem
  of that item: ~30 ms), although moto's ``DynamoResult`` already holds DynamoDB's wire format:
  ``faster_moto`` dumps it with ``json.dumps`` for the data-plane operations the runs use;
- moto's ``DynamoType.to_regular_json`` deep-copies each level before converting it, its ``cast_value``
  (what every condition on an attribute evaluates) wraps each nested value again, and its
  ``__deepcopy__`` dispatches through ``copy.deepcopy`` for every node: ``faster_moto`` replaces them
  with direct recursive equivalents (DynamoDB values are acyclic trees);
- moto's ``transact_write_items`` deep-copies every table a transaction touches, to undo it if it is
  cancelled: ``faster_moto`` snapshots the items the transaction names instead, and restores them;
- moto's ``Table.query`` of the base table gathers its candidates by sorting every item of the table and keeping
  those of the asked partition (O(table) per Query: with thousands of queued executions across a mix's prefixes,
  each Query of a 500-holder partition took ~30 ms): ``faster_moto`` hands it the asked partition's items alone;
- moto's ``BaseModel`` keeps every instance it ever creates in a class-level list (for its model-listing
  API), and moto creates an ``Item`` or two per request: a run of 100,000 requests on a semaphore item
  with 100 holders kept gigabytes. ``faster_moto`` keeps no ``Item`` there while it lasts (memory only);
- botocore parses every answer by walking the output shape (a ConditionalCheckFailed answer carrying the
  item: ~5 ms), although for DynamoDB's JSON protocol the parsed form of an attribute value is its JSON
  (strings stay strings, numbers stay strings), except binary values: ``fast_parser`` installs, on one
  client, a parser that loads the JSON and keeps the shape's members, and hands anything with a binary
  value (``"B"``/``"BS"``) or an operation it does not know to botocore's own parser.

Measured on a semaphore item with 100 holders: a refused acquire (UpdateItem answered with the item) takes 6.3 ms
of CPU with them, 15.8 ms without.

``tests/functional/test_burst_simulation.py`` checks the replacements against the originals on the operations,
answers and item shapes the runs produce. Why by hand: no library offers a faster moto; the alternative, a
DynamoDB of our own, would have to re-implement the expression language the core relies on.
"""

from __future__ import annotations

import base64
import copy
import inspect
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import moto.dynamodb.models as moto_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

FAST_OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "TransactWriteItems"})
FAST_OUTPUT_SHAPES = frozenset(f"{operation}Output" for operation in FAST_OPERATIONS)
CONTENT_TYPE = "application/x-amz-json-1.0"
_SETS = frozenset({"SS", "NS", "BS"})


def to_regular_json(value: DynamoType) -> dict[str, Any]:
    """``DynamoType.to_regular_json`` without its deep copy at every level."""
    kind, content = value.type, value.value
    if kind == "M":
        return {kind: {k: to_regular_json(v) if isinstance(v, DynamoType) else v for k, v in content.items()}}
    if kind == "L":
        return {kind: [to_regular_json(v) if isinstance(v, DynamoType) else v for v in content]}
    if kind in _SETS:
        return {kind: list(content)}
    if kind == "B" and isinstance(content, str):
        return {kind: base64.b64decode(content)}
    return {kind: content}


def copy_value(value: DynamoType) -> DynamoType:
    """``DynamoType.__deepcopy__`` without going through ``copy.deepcopy`` for every node."""
    result = DynamoType.__new__(DynamoType)
    kind, content = value.type, value.value
    result.type = kind
    if kind == "M":
        result.value = {k: copy_value(v) for k, v in content.items()}
    elif kind == "L":
        result.value = [copy_value(v) for v in content]
    elif kind in _SETS:
        result.value = list(content)
    else:
        result.value = content
    return result


def cast_value(value: DynamoType) -> Any:
    """``DynamoType.cast_value`` (what conditions compare) without re-wrapping every nested value."""
    kind, content = value.type, value.value
    if kind == "N":
        return Decimal(content)
    if kind == "M":
        return {k: (v if isinstance(v, DynamoType) else DynamoType(v)).cast_value for k, v in content.items()}
    if kind == "L":
        return [(v if isinstance(v, DynamoType) else DynamoType(v)).cast_value for v in content]
    if kind in _SETS:
        return {DynamoType({kind[0]: item}).cast_value for item in content}
    if kind == "NULL":
        return None
    return content


class _KeepTables:
    """moto's ``copy`` module as ``transact_write_items`` sees it: a Table is "copied" as itself."""

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _item_key(table: Table, operation: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    key = operation.get("Key") or operation["Item"]
    hash_value = DynamoType(key[table.hash_key_attr])
    return hash_value, DynamoType(key[table.range_key_attr]) if table.range_key_attr else None


def _restore(table: Table, hash_value: DynamoType, range_value: DynamoType | None, saved: Item | None) -> None:
    if range_value is None:
        if saved is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = saved
    elif saved is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items[hash_value][range_value] = saved


def transact_write_items(original: Any) -> Any:
    """moto's ``transact_write_items``, undoing a cancelled transaction by restoring the items it names instead of
    deep-copying every table it touches beforehand (O(table) per transaction: a 10,000-item queue made each
    hand-over copy 10,000 items). A transaction writes nothing but the items it names."""

    def wrapper(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> Any:
        saved = []
        for action in transact_items:
            (operation,) = action.values()
            table = backend.tables.get(operation.get("TableName"))
            try:
                hash_value, range_value = _item_key(table, operation)
            except (AttributeError, KeyError, TypeError):
                continue  # no such table, or no key: moto refuses it before writing anything
            current = table.get_item(hash_value, range_value)
            saved.append((table, hash_value, range_value, copy_item(current) if current is not None else None))
        try:
            return original(backend, transact_items)
        except Exception:
            for table, hash_value, range_value, item in reversed(saved):
                _restore(table, hash_value, range_value, item)
            raise

    return wrapper


def copy_item(item: Item) -> Item:
    return copy.deepcopy(item)


class _KeepNone(list[Any]):
    """A class-level instance list that keeps nothing (see the module docstring)."""

    def append(self, item: Any) -> None:
        return None


def query_one_partition(original: Any) -> Any:
    """moto's ``Table.query``, its base-table candidates taken from the asked partition only (it sorts them by sort
    key itself); an index Query or a table without a sort key goes unchanged.
    The simulation runs one request at a time, so shadowing ``all_items`` on the table for the call is safe."""

    # Where ``index_name`` falls among the arguments after ``hash_key`` (moto's backend passes it by position).
    index_name_at = list(inspect.signature(original).parameters).index("index_name") - 2

    def wrapper(table: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[index_name_at] if len(args) > index_name_at else kwargs.get("index_name")
        if index_name is not None or hash_key is None or not table.range_key_attr:
            return original(table, hash_key, *args, **kwargs)
        partition = table.items.get(hash_key, {})
        table.all_items = lambda: list(partition.values())  # type: ignore[method-assign]
        try:
            return original(table, hash_key, *args, **kwargs)
        finally:
            del table.all_items

    return wrapper


@contextmanager
def faster_moto() -> Iterator[None]:
    serialized, regular, deepcopy = DynamoHandler.serialized, DynamoType.to_regular_json, DynamoType.__deepcopy__
    cast = DynamoType.__dict__["cast_value"]

    def fast_serialized(handler: DynamoHandler, action_result: Any) -> Any:
        result = action_result.result
        if isinstance(result, Exception) or handler._get_action() not in FAST_OPERATIONS:
            return serialized(handler, action_result)
        headers = dict(handler.response_headers)
        headers["Content-Type"] = CONTENT_TYPE
        return 200, headers, json.dumps(result)

    DynamoHandler.serialized = fast_serialized  # type: ignore[method-assign]
    DynamoType.to_regular_json = to_regular_json  # type: ignore[method-assign]
    DynamoType.__deepcopy__ = lambda self, memo: copy_value(self)  # type: ignore[method-assign]
    DynamoType.cast_value = property(cast_value)  # type: ignore[assignment,method-assign]
    transact = DynamoDBBackend.transact_write_items
    DynamoDBBackend.transact_write_items = transact_write_items(transact)  # type: ignore[method-assign]
    moto_models.copy = _KeepTables()  # type: ignore[attr-defined]
    query = Table.query
    Table.query = query_one_partition(query)  # type: ignore[method-assign]
    tracked = Item.instances_tracked  # type: ignore[attr-defined]
    Item.instances_tracked = _KeepNone()  # type: ignore[attr-defined]
    try:
        yield
    finally:
        Item.instances_tracked = tracked  # type: ignore[attr-defined]
        DynamoHandler.serialized = serialized  # type: ignore[method-assign]
        DynamoType.to_regular_json = regular  # type: ignore[method-assign]
        DynamoType.__deepcopy__ = deepcopy  # type: ignore[method-assign]
        DynamoType.cast_value = cast  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items = transact  # type: ignore[method-assign]
        moto_models.copy = copy  # type: ignore[attr-defined]
        Table.query = query  # type: ignore[method-assign]


class _FastParser:
    """botocore's JSON parser, short-cut for DynamoDB answers without binary values."""

    def __init__(self, parser: Any) -> None:
        self._parser = parser

    def parse(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
        body = response.get("body") or b""
        if shape is None or b'"B"' in body or b'"BS"' in body:
            return self._parser.parse(response, shape)
        status = response["status_code"]
        is_error_shape = bool(shape.metadata.get("exception"))
        if status < 300 and shape.name in FAST_OUTPUT_SHAPES:
            loaded = json.loads(body) if body else {}
            parsed = {name: loaded[name] for name in shape.members if name in loaded}
            self._parser._inject_response_metadata(parsed, response["headers"])
            return parsed
        if status >= 300 and is_error_shape:
            loaded = json.loads(body) if body else {}
            return {name: loaded[name] for name in shape.members if name in loaded}
        return self._parser.parse(response, shape)


class _FastParserFactory:
    def __init__(self, factory: Any) -> None:
        self._factory = factory

    def create_parser(self, protocol: str) -> Any:
        parser = self._factory.create_parser(protocol)
        return _FastParser(parser) if protocol == "json" else parser


def fast_parser(client: Any) -> Any:
    """Give ``client`` (a DynamoDB client) the short-cut parser; returns the client."""
    endpoint = client._endpoint
    endpoint._response_parser_factory = _FastParserFactory(endpoint._response_parser_factory)
    return client
