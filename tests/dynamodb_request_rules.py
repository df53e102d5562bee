"""DynamoDB's documented request rules, checked on every DynamoDB request the test process sends.

moto (and a botocore Stubber) accept requests that DynamoDB answers with a ValidationException:
placeholders defined but not used, expressions over 4 KB, items over 400 KB counted DynamoDB's way,
one item twice in a transaction, more than 100 actions in one. AWS is the spec (DESIGN.md), so
while the tests run every DynamoDB request is held to DynamoDB's rules here:

- ``request_violations`` is a pure function: the rules a request (as it goes over the wire) breaks.
- ``result_violations`` checks what a successful write left behind, where the request alone cannot
  tell: the item an UpdateItem (or a transaction's Update) produced, read from moto's in-process
  backend, and the aggregate size of a transaction.
- ``RequestRules.install()`` attaches both, through botocore's event system, to every DynamoDB client
  created from then on by any botocore session (``boto3.client``, ``boto3.Session().client``,
  ``lease_core.aws_clients``, the Chalice apps, clients used in threads): it wraps
  ``botocore.session.Session.create_client``, the one place every client is made, and registers a
  ``before-call`` and an ``after-call`` handler on the new client's own event emitter.

A request that breaks a rule is answered as DynamoDB answers it, HTTP 400 ``ValidationException``
with DynamoDB's message, and never reaches moto; the violation is also recorded, and the autouse
fixture in ``tests/conftest.py`` fails the test at teardown. Both are needed: the lease core turns a
ValidationException into ``LeaseStoreUnavailable`` and may retry or swallow it. A result violation
(the write already happened in moto) is recorded only.

What is covered (documentation pages cited beside each rule below):
- every ``#name`` in ExpressionAttributeNames and ``:value`` in ExpressionAttributeValues used by an
  expression of the same request (or transaction action), every placeholder used defined, neither
  map empty, placeholders well formed and at most 255 bytes, names and values at most 2 MB together;
- each expression (Update, Condition, KeyCondition, Filter, Projection) non-empty and at most 4 KB;
- PutItem items, transaction Put items and BatchWriteItem put items at most 400 KB (``dynamodb_item_size``)
  and nested at most 32 levels; key attribute values non-empty, at most 2,048 bytes (1,024 for a
  sort key, when the table's key schema is known);
- UpdateItem: no expression value over 400 KB, and, when moto answered in this process (``mock_aws``
  or a ``ThreadedMotoServer`` started by the tests), the resulting item at most 400 KB;
- TransactWriteItems / TransactGetItems: 1 to 100 actions, no item twice, the aggregate size of the
  items at most 4 MB (Put items before sending; items written or read, after);
- BatchWriteItem: 1 to 25 requests, no key twice; BatchGetItem: at most 100 keys, no key twice.

Not covered: requests sent by subprocesses (``make`` targets, the demo run as a program); the
resulting item of an UpdateItem answered by anything but moto in this process (a Stubber, a moto in
another process); the 300-operator limit and expression syntax (moto parses expressions itself);
the 16 MB limits of batch requests and responses; an item's size as seen by a write whose condition
failed. Reading moto's backend from the client thread while another request thread of a
``ThreadedMotoServer`` updates the same item can see it mid-update; a near-limit item could then be
misjudged (a read that fails outright is retried).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse

from tests.dynamodb_item_size import (
    KB,
    MAX_ITEM_BYTES,
    MAX_NESTING_DEPTH,
    item_size,
    nesting_depth,
    utf8_bytes,
    value_size,
)

# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-expression-parameters
# (formerly the "Expression parameters" section of .../developerguide/ServiceQuotas.html)
MAX_EXPRESSION_BYTES = 4 * KB
MAX_PLACEHOLDER_BYTES = 255
MAX_SUBSTITUTION_BYTES = 2 * KB * KB
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-attributes
MAX_ATTRIBUTE_NAME_BYTES = 64 * KB
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-partition-sort-keys
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html and
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactGetItems.html
MAX_TRANSACTION_ACTIONS = 100
MAX_TRANSACTION_BYTES = 4 * KB * KB
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
MAX_BATCH_WRITES = 25
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
MAX_BATCH_GETS = 100

EXPRESSION_PARAMETERS = (
    "UpdateExpression",
    "ConditionExpression",
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
)
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ExpressionAttributeNames.html and
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ExpressionAttributeValues.html:
# '#' or ':' followed by one or more alphanumeric characters (and '_').
NAME_PLACEHOLDER = re.compile(r"#[A-Za-z0-9_]+")
VALUE_PLACEHOLDER = re.compile(r":[A-Za-z0-9_]+")

KeySchema = tuple[str, str | None]  # (partition key name, sort key name or None)


@dataclass(frozen=True)
class Violation:
    """One rule a request broke: the operation, where in the request, and DynamoDB's message."""

    operation: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.operation} {self.where}: {self.message}"


# -- the pure rules ----------------------------------------------------------------------------------


def _unused_and_undefined(parameter: str, given: Mapping[str, Any] | None, used: set[str]) -> list[str]:
    """DynamoDB refuses a placeholder it is given but no expression uses, and one used but not given."""
    problems: list[str] = []
    unused = sorted(set(given or {}) - used)
    if unused:
        problems.append(f"Value provided in {parameter} unused in expressions: keys: {{{', '.join(unused)}}}")
    for placeholder in sorted(used - set(given or {})):
        if parameter == "ExpressionAttributeNames":
            detail = (
                f"An expression attribute name used in the document path is not defined; attribute name: {placeholder}"
            )
        else:
            detail = f"An expression attribute value used in expression is not defined; attribute value: {placeholder}"
        problems.append(f"Invalid expression: {detail}")
    return problems


def _placeholder_key_problems(parameter: str, placeholder: str, pattern: re.Pattern[str]) -> list[str]:
    if not pattern.fullmatch(placeholder):
        return [f'{parameter} contains invalid key: Syntax error; key: "{placeholder}"']
    if utf8_bytes(placeholder) > MAX_PLACEHOLDER_BYTES:
        return [f"{parameter} key {placeholder[:20]}... is over {MAX_PLACEHOLDER_BYTES} bytes"]
    return []


def _scope_violations(scope: Mapping[str, Any], where: str) -> list[str]:
    """Expressions and placeholders of one request, or of one action of a transaction or batch."""
    problems: list[str] = []
    expressions = {name: scope[name] for name in EXPRESSION_PARAMETERS if name in scope}
    for name, expression in expressions.items():
        if not isinstance(expression, str) or not expression.strip():
            problems.append(f"Invalid {name}: The expression can not be empty;")
        elif utf8_bytes(expression) > MAX_EXPRESSION_BYTES:
            problems.append(
                f"Invalid {name}: Expression size has exceeded the maximum allowed size; "
                f"expression size: {utf8_bytes(expression)} bytes (at most {MAX_EXPRESSION_BYTES})"
            )
    text = " ".join(expression for expression in expressions.values() if isinstance(expression, str))
    names = scope.get("ExpressionAttributeNames")
    values = scope.get("ExpressionAttributeValues")
    substitution_bytes = 0
    if names is not None:
        if not names:
            problems.append("ExpressionAttributeNames must not be empty")
        for placeholder, attribute in names.items():
            substitution_bytes += utf8_bytes(placeholder) + utf8_bytes(attribute)
            problems += _placeholder_key_problems("ExpressionAttributeNames", placeholder, NAME_PLACEHOLDER)
            if not attribute:
                problems.append(
                    f"ExpressionAttributeNames contains invalid value: Empty attribute name; key: {placeholder}"
                )
            elif utf8_bytes(attribute) > MAX_ATTRIBUTE_NAME_BYTES:
                problems.append(f"attribute name of {placeholder} is over {MAX_ATTRIBUTE_NAME_BYTES} bytes")
    problems += _unused_and_undefined("ExpressionAttributeNames", names, set(NAME_PLACEHOLDER.findall(text)))
    if values is not None:
        if not values:
            problems.append("ExpressionAttributeValues must not be empty")
        for placeholder, value in values.items():
            size = value_size(value)
            substitution_bytes += utf8_bytes(placeholder) + size
            problems += _placeholder_key_problems("ExpressionAttributeValues", placeholder, VALUE_PLACEHOLDER)
            if size > MAX_ITEM_BYTES:  # no write can store it, whatever the expression does with it
                problems.append(f"Item size has exceeded the maximum allowed size: {placeholder} is {size} bytes")
            if nesting_depth(value) > MAX_NESTING_DEPTH:
                problems.append(f"Nesting Levels have exceeded supported limits: {placeholder}")
    problems += _unused_and_undefined("ExpressionAttributeValues", values, set(VALUE_PLACEHOLDER.findall(text)))
    if substitution_bytes > MAX_SUBSTITUTION_BYTES:
        problems.append(
            f"ExpressionAttributeNames and ExpressionAttributeValues total {substitution_bytes} bytes "
            f"(at most {MAX_SUBSTITUTION_BYTES})"
        )
    return [f"{where}: {problem}" if where else problem for problem in problems]


def _item_violations(item: Mapping[str, Any], where: str) -> list[str]:
    """An item as written whole (PutItem, a transaction's Put, a batch's PutRequest)."""
    problems: list[str] = []
    size = item_size(dict(item))
    if size > MAX_ITEM_BYTES:
        problems.append(f"Item size has exceeded the maximum allowed size: {size} bytes (at most {MAX_ITEM_BYTES})")
    for name, value in item.items():
        if not name:
            problems.append("Empty attribute name")
        if nesting_depth(value) > MAX_NESTING_DEPTH:
            problems.append(f"Nesting Levels have exceeded supported limits: attribute {name[:40]!r}")
    return [f"{where}: {problem}" if where else problem for problem in problems]


def _key_violations(key: Mapping[str, Any], schema: KeySchema | None, where: str) -> list[str]:
    problems: list[str] = []
    for name, value in key.items():
        if not isinstance(value, dict) or len(value) != 1:
            continue
        ((kind, _),) = value.items()
        if kind not in ("S", "B"):
            continue
        size = value_size(value)
        limit = MAX_SORT_KEY_BYTES if schema is not None and name == schema[1] else MAX_PARTITION_KEY_BYTES
        if size == 0:
            problems.append(
                f"One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
                f"contain an empty {'string' if kind == 'S' else 'binary'} value. Key: {name}"
            )
        elif size > limit:
            problems.append(f"key attribute {name!r} is {size} bytes (at most {limit})")
    return [f"{where}: {problem}" if where else problem for problem in problems]


def _key_of(item: Mapping[str, Any], schema: KeySchema | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    names = [name for name in schema if name is not None]
    if not all(name in item for name in names):
        return None
    return {name: item[name] for name in names}


def _identity(table: str, key: Mapping[str, Any] | None) -> str | None:
    return None if key is None else json.dumps([table, key], sort_keys=True)


def _action_count_problem(count: int) -> str:
    return (
        "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length "
        f"less than or equal to {MAX_TRANSACTION_ACTIONS} and greater than or equal to 1 (got {count})"
    )


def _transact_write_violations(request: Mapping[str, Any], schema_of: Callable[[str], KeySchema | None]) -> list[str]:
    actions = request.get("TransactItems") or []
    problems: list[str] = []
    if not 1 <= len(actions) <= MAX_TRANSACTION_ACTIONS:
        problems.append(_action_count_problem(len(actions)))
    seen: dict[str, int] = {}
    put_bytes = 0
    # A Put names its key inside its item: the key schema says which attributes those are. When the schema
    # is not known, the key attributes other actions on the same table name stand in for it.
    named_keys: dict[str, KeySchema] = {}
    for action in actions:
        for body in action.values():
            if isinstance(body, dict) and "Key" in body:
                names = sorted(body["Key"])
                named_keys.setdefault(body.get("TableName", ""), (names[0], names[1] if len(names) > 1 else None))
    for index, action in enumerate(actions):
        if len(action) != 1:
            problems.append(f"TransactItems[{index}]: exactly one of ConditionCheck, Put, Delete, Update is allowed")
            continue
        ((kind, body),) = action.items()
        where = f"TransactItems[{index}].{kind}"
        table = body.get("TableName", "")
        schema = schema_of(table)
        problems += _scope_violations(body, where)
        if kind == "Put":
            item = body.get("Item") or {}
            problems += _item_violations(item, where)
            put_bytes += item_size(item)
            key = _key_of(item, schema or named_keys.get(table))
        else:
            key = body.get("Key")
        if key is not None:
            problems += _key_violations(key, schema, where)
        identity = _identity(table, key)
        if identity is not None:
            if identity in seen:
                problems.append(
                    f"{where}: Transaction request cannot include multiple operations on one item "
                    f"(the same item as TransactItems[{seen[identity]}])"
                )
            else:
                seen[identity] = index
    if put_bytes > MAX_TRANSACTION_BYTES:
        problems.append(f"Transaction request cannot be larger than 4 MB: its Put items alone are {put_bytes} bytes")
    return problems


def _transact_get_violations(request: Mapping[str, Any], schema_of: Callable[[str], KeySchema | None]) -> list[str]:
    actions = request.get("TransactItems") or []
    problems: list[str] = []
    if not 1 <= len(actions) <= MAX_TRANSACTION_ACTIONS:
        problems.append(_action_count_problem(len(actions)))
    seen: dict[str, int] = {}
    for index, action in enumerate(actions):
        body = action.get("Get") or {}
        where = f"TransactItems[{index}].Get"
        problems += _scope_violations(body, where)
        key = body.get("Key")
        if key is not None:
            problems += _key_violations(key, schema_of(body.get("TableName", "")), where)
        identity = _identity(body.get("TableName", ""), key)
        if identity is not None and identity in seen:
            problems.append(f"{where}: Transaction request cannot include multiple operations on one item")
        elif identity is not None:
            seen[identity] = index
    return problems


def _batch_write_violations(request: Mapping[str, Any], schema_of: Callable[[str], KeySchema | None]) -> list[str]:
    problems: list[str] = []
    tables = request.get("RequestItems") or {}
    count = sum(len(writes) for writes in tables.values())
    if not 1 <= count <= MAX_BATCH_WRITES:
        problems.append(
            f"Too many items requested for the BatchWriteItem call: {count} (from 1 to {MAX_BATCH_WRITES} requests)"
        )
    for table, writes in tables.items():
        schema = schema_of(table)
        seen: set[str] = set()
        for index, write in enumerate(writes):
            where = f"RequestItems[{table}][{index}]"
            if "PutRequest" in write:
                item = write["PutRequest"].get("Item") or {}
                problems += _item_violations(item, where)
                key = _key_of(item, schema)
            else:
                key = (write.get("DeleteRequest") or {}).get("Key")
            if key is not None:
                problems += _key_violations(key, schema, where)
            identity = _identity(table, key)
            if identity is not None and identity in seen:
                problems.append(f"{where}: Provided list of item keys contains duplicates")
            elif identity is not None:
                seen.add(identity)
    return problems


def _batch_get_violations(request: Mapping[str, Any], schema_of: Callable[[str], KeySchema | None]) -> list[str]:
    problems: list[str] = []
    tables = request.get("RequestItems") or {}
    count = sum(len(reads.get("Keys") or []) for reads in tables.values())
    if count > MAX_BATCH_GETS:
        problems.append(f"Too many items requested for the BatchGetItem call: {count} (at most {MAX_BATCH_GETS})")
    for table, reads in tables.items():
        problems += _scope_violations(reads, f"RequestItems[{table}]")
        seen: set[str] = set()
        for index, key in enumerate(reads.get("Keys") or []):
            where = f"RequestItems[{table}].Keys[{index}]"
            problems += _key_violations(key, schema_of(table), where)
            identity = _identity(table, key)
            if identity in seen:
                problems.append(f"{where}: Provided list of item keys contains duplicates")
            elif identity is not None:
                seen.add(identity)
    return problems


def _no_schema(table: str) -> KeySchema | None:
    return None


def request_violations(
    operation: str, request: Mapping[str, Any], schema_of: Callable[[str], KeySchema | None] = _no_schema
) -> list[str]:
    """The rules ``request`` (low-level, as sent: ``{"TableName": ..., "Key": {"pk": {"S": ...}}, ...}``)
    breaks, each as DynamoDB's message; empty if DynamoDB would accept it."""
    if operation == "TransactWriteItems":
        return _transact_write_violations(request, schema_of)
    if operation == "TransactGetItems":
        return _transact_get_violations(request, schema_of)
    if operation == "BatchWriteItem":
        return _batch_write_violations(request, schema_of)
    if operation == "BatchGetItem":
        return _batch_get_violations(request, schema_of)
    problems = _scope_violations(request, "")
    schema = schema_of(request.get("TableName", "")) if "TableName" in request else None
    if operation == "PutItem":
        item = request.get("Item") or {}
        problems += _item_violations(item, "Item")
        key = _key_of(item, schema)
        if key is not None:
            problems += _key_violations(key, schema, "Item")
    if isinstance(request.get("Key"), dict):
        problems += _key_violations(request["Key"], schema, "Key")
    return problems


def written_item_violations(item: Mapping[str, Any] | None, where: str) -> list[str]:
    """The item an update left behind, which DynamoDB would have refused to write if over the limit."""
    if not item:
        return []
    size = item_size(dict(item))
    if size > MAX_ITEM_BYTES:
        return [
            f"{where}: Item size to update has exceeded the maximum allowed size: "
            f"{size} bytes (at most {MAX_ITEM_BYTES})"
        ]
    return []


def result_violations(
    operation: str,
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    read_item: Callable[[str, Mapping[str, Any]], dict[str, Any] | None],
) -> list[str]:
    """After a successful call: the rules only its outcome shows. ``read_item(table, key)`` reads an item
    as it now is (None if it cannot be read)."""
    if operation == "UpdateItem":
        item = response.get("Attributes") if request.get("ReturnValues") == "ALL_NEW" else None
        if item is None:
            item = read_item(request.get("TableName", ""), request.get("Key") or {})
        return written_item_violations(item, "the updated item")
    if operation == "TransactWriteItems":
        problems: list[str] = []
        total = 0
        for index, action in enumerate(request.get("TransactItems") or []):
            for kind, body in action.items():
                if kind == "Put":
                    total += item_size(body.get("Item"))
                elif kind in ("Update", "ConditionCheck") and body.get("Key"):  # a deleted item is gone
                    item = read_item(body.get("TableName", ""), body["Key"])
                    total += item_size(item)
                    if kind == "Update":
                        problems += written_item_violations(item, f"TransactItems[{index}].Update")
        if total > MAX_TRANSACTION_BYTES:
            problems.append(f"Transaction request cannot be larger than 4 MB: its items are {total} bytes")
        return problems
    if operation == "TransactGetItems":
        total = sum(item_size(entry.get("Item")) for entry in response.get("Responses") or [])
        if total > MAX_TRANSACTION_BYTES:
            return [f"Transaction request cannot be larger than 4 MB: the items read are {total} bytes"]
    return []


# -- moto's backend, read in process -----------------------------------------------------------------


def _moto_table(region: str, table_name: str) -> Any:
    try:
        from moto.dynamodb.models import dynamodb_backends
    except ImportError:  # pragma: no cover - moto is a test dependency
        return None
    for account in list(dict.values(dynamodb_backends)):
        backend = dict.get(account, region)  # never creates a backend that is not there
        table = None if backend is None else backend.tables.get(table_name)
        if table is not None:
            return table
    return None


def moto_key_schema(region: str, table_name: str) -> KeySchema | None:
    table = _moto_table(region, table_name)
    return None if table is None else (table.hash_key_attr, table.range_key_attr)


def moto_item(region: str, table_name: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    """The item as moto now holds it (low-level attribute values), or None."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = _moto_table(region, table_name)
    if table is None or table.hash_key_attr not in key:
        return None
    for _ in range(5):  # another request thread may be changing the item: read again
        try:
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
            item = table.get_item(DynamoType(key[table.hash_key_attr]), range_key)
            return None if item is None else item.to_json()["Attributes"]
        except RuntimeError:
            continue
        except Exception:
            return None
    return None


# -- the hooks -----------------------------------------------------------------------------------------

_CONTEXT_KEY = "dynamodb_request_rules"


class RequestRules:
    """Checks every request of the DynamoDB clients it is attached to, and records what broke a rule."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._violations: list[Violation] = []
        self._key_schemas: dict[str, KeySchema] = {}
        self._installed = False

    # -- recording ---

    def _record(self, operation: str, problems: list[str], where: str) -> None:
        with self._lock:
            self._violations += [Violation(operation, where, problem) for problem in problems]

    def take(self) -> list[Violation]:
        """The violations recorded so far, which are forgotten."""
        with self._lock:
            taken, self._violations = self._violations, []
        return taken

    @contextmanager
    def expected(self) -> Iterator[list[Violation]]:
        """A block whose violations are expected (the checker's own tests): they are collected, not failed on."""
        with self._lock:
            before, self._violations = self._violations, []
        seen: list[Violation] = []
        try:
            yield seen
        finally:
            with self._lock:
                seen += self._violations
                self._violations = before

    # -- key schemas ---

    def schema_of(self, region: str) -> Callable[[str], KeySchema | None]:
        def lookup(table: str) -> KeySchema | None:
            return self._key_schemas.get(table) or moto_key_schema(region, table)

        return lookup

    # -- botocore handlers ---

    def before_call(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> Any:
        if model.service_model.service_name != "dynamodb":
            return None
        try:
            request = json.loads(params.get("body") or b"{}")
        except (TypeError, ValueError):
            return None
        operation = model.name
        region = context.get("client_region") or ""
        context[_CONTEXT_KEY] = request
        if operation == "CreateTable":
            self._remember_schema(request)
        try:
            problems = request_violations(operation, request, self.schema_of(region))
        except Exception as exc:  # a bug of the checker must show, not change what the code under test sees
            self._record(operation, [f"the request checker failed on this request: {exc!r}"], "checker")
            return None
        if not problems:
            return None
        self._record(operation, problems, "request")
        # Answered as DynamoDB answers it: HTTP 400, ValidationException, nothing written.
        message = "; ".join(problems)
        http = AWSResponse(params.get("url"), 400, {}, None)
        parsed = {
            "Error": {"Code": "ValidationException", "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}, "RetryAttempts": 0},
        }
        return http, parsed

    def after_call(self, http_response: Any, parsed: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        request = context.get(_CONTEXT_KEY)
        if request is None or http_response is None or http_response.status_code >= 300:
            return
        operation = model.name
        if operation not in ("UpdateItem", "TransactWriteItems", "TransactGetItems"):
            return
        region = context.get("client_region") or ""

        def read_item(table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
            return moto_item(region, table, key)

        try:
            problems = result_violations(operation, request, parsed or {}, read_item)
        except Exception as exc:
            problems = [f"the request checker failed on this result: {exc!r}"]
        if problems:
            self._record(operation, problems, "result")

    def _remember_schema(self, request: Mapping[str, Any]) -> None:
        roles = {entry.get("KeyType"): entry.get("AttributeName") for entry in request.get("KeySchema") or []}
        if request.get("TableName") and roles.get("HASH"):
            with self._lock:
                self._key_schemas[request["TableName"]] = (roles["HASH"], roles.get("RANGE"))

    # -- installation ---

    def attach(self, client: Any) -> None:
        """Check every request of one client. ``register_first`` on the wildcard event: before a
        Stubber's own ``before-call.*.*`` handler answers, so requests to a Stubber are checked too."""
        events = client.meta.events
        events.register_first("before-call.*.*", self.before_call, unique_id="dynamodb-request-rules-before-call")
        events.register("after-call.dynamodb", self.after_call, unique_id="dynamodb-request-rules-after-call")

    def install(self) -> None:
        """Attach to every DynamoDB client created from now on, by any botocore session. Idempotent."""
        with self._lock:
            if self._installed:
                return
            self._installed = True
        create_client = botocore.session.Session.create_client
        rules = self

        def create_checked_client(session: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
            client = create_client(session, service_name, *args, **kwargs)
            if client.meta.service_model.service_name == "dynamodb":
                rules.attach(client)
            return client

        create_checked_client.__wrapped__ = create_client  # type: ignore[attr-defined]
        botocore.session.Session.create_client = create_checked_client  # type: ignore[method-assign]


RULES = RequestRules()


def install() -> RequestRules:
    RULES.install()
    return RULES
