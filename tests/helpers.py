"""What test modules share: the constants of the test world and the arrange steps more than one module takes.

A test module imports from here (and from the focused helper modules beside it: ``ops``, ``semaphore_spec``,
``ways_around_the_lease``, ``dynamodb_item_size``, ``dynamodb_request_rules``), never from another test module;
tests/unit/test_test_modules.py holds the suite to that, and to spelling none of these constants again.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import pathlib
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from chalice.test import Client
from moto import mock_aws

from lease_core import LeaseSemaphore, UnknownPrefix, item_layout
from lease_core.item_layout import COUNT, ENTRY, HOLDERS, Entry, holder_key, holders_partition, semaphore_key
from lease_ops.aws.table import DEFAULT_TABLE_NAME, create_lease_table
from lease_ops.config.chalice_apps import REPOSITORY_ROOT, app_folder
from lease_ops.config.platform_config import load_platform_config
from lease_ops.definitions.workflow_builder import LeaseFunctions

# The region and table DESIGN.md names as the defaults, spelled here once: tests that read what the code
# chose by default compare it with these.
REGION = "eu-central-1"
TABLE = "regional-concurrency-leases"
# moto's default account: every ARN moto makes is in it.
ACCOUNT = "123456789012"
# The Chalice stage the tests run the apps on.
STAGE = "dev"
# The fixed "now" of tests on a fake clock (2027-01-15), well after item_layout.EPOCH.
NOW = 1_800_000_000
# One attempt per call: a test sees the first error instead of botocore's retries of it.
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})

T = TypeVar("T")


def arn(service: str, resource: str) -> str:
    """An ARN in the tests' region and account: ``arn("states", "execution:wf:run-1")``."""
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


# The four Lambda functions of a workload app ``app`` on the dev stage, as workflow definitions name them.
LEASE_FUNCTIONS = LeaseFunctions(
    *(arn("lambda", f"function:app-dev-{n}") for n in ("acquire", "release", "renew", "process"))
)


def aws_client(
    service: str, *, endpoint_url: str | None = None, config: Config | None = None, own_session: bool = False
) -> Any:
    """A boto3 client in the tests' region. Without ``endpoint_url`` it reaches what the test set up: the
    in-process moto of ``mock_aws`` (the ``dynamodb`` fixture), or the moto server AWS_ENDPOINT_URL names
    (the ``moto_endpoint`` fixture). ``own_session`` makes it in a session of its own, as a worker thread must
    (boto3's default session is not safe to create clients from in several threads at once)."""
    session = boto3.session.Session() if own_session else boto3
    return session.client(service, region_name=REGION, endpoint_url=endpoint_url, config=config)


def service_clients(*services: str) -> dict[str, Any]:
    """One ``aws_client`` per service, by service name."""
    return {service: aws_client(service) for service in services}


def lease_table_client(*, table: str = TABLE, endpoint_url: str | None = None, config: Config | None = None) -> Any:
    """A DynamoDB client (``aws_client``) with the shared lease table created where it reaches."""
    client = aws_client("dynamodb", endpoint_url=endpoint_url, config=config)
    create_lease_table(client, table)
    return client


def stand_in_role(iam: Any, name: str) -> str:
    """The ARN of a new role that trusts nobody: a state machine on moto needs a role, never uses it."""
    document = '{"Version": "2012-10-17", "Statement": []}'
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=document)["Role"]["Arn"])


def lease_semaphore(
    client: Any,
    prefix: str = "analytics",
    *,
    cap: int | None,
    ttl: int = 600,
    clock: Callable[[], float] | float | None = None,
    table: str = TABLE,
) -> LeaseSemaphore:
    """A semaphore of ``prefix`` on the lease table; ``clock`` is a clock, a fixed time, or None for the real one."""
    options: dict[str, Any] = {}
    if clock is not None:
        options["clock"] = clock if callable(clock) else lambda: clock
    return LeaseSemaphore(client, table, prefix, ttl_seconds=ttl, initial_cap=cap, **options)


def map_layout_item(cap: int, entries: Mapping[str, Entry], prefix: str = "analytics") -> dict[str, Any]:
    """A semaphore item in the map layout as DynamoDB returns it (a failed condition's ALL_OLD, a GetItem):
    the cap, and the lease entries by holder key under ``h``."""
    packed = {key: entry.packed() for key, entry in entries.items()}
    return {**semaphore_key(prefix), "cap": {"N": str(cap)}, "h": {"M": packed}}


class NoCallsClient:
    """A DynamoDB client that fails the test if the code under test calls it at all."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"DynamoDB was called ({name}) for a request that should have been refused")


def chalice_client(app: Any, folder: str) -> Client:
    """Chalice's test client of the app in ``folder``, on the tests' stage with that app's .chalice/config.json
    (use it as a context manager)."""
    return Client(app, stage_name=STAGE, project_dir=str(app_folder(folder)))


def imported_modules(path: pathlib.Path) -> set[str]:
    """Every absolute module name ``path`` imports (at any depth, lazy imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


class FakeClock:
    """A clock a test moves by hand: ``clock.now += 61``."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def load_module(relative_path: str) -> ModuleType:
    """Import one source file of the repository under a unique module name."""
    path = REPOSITORY_ROOT / relative_path
    name = "under_test_" + relative_path.replace("/", "_").removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_of_project(root: Path) -> Path:
    """Copy platform.toml and every app it names under ``root`` (made if missing); returns the copy of
    platform.toml. The apps are read from platform.toml, not listed here, so that a workload added with
    `make workload` is copied with the others and commands run on the copy find it."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPOSITORY_ROOT / "platform.toml", root / "platform.toml")
    for app in load_platform_config().app_folders:
        shutil.copytree(
            REPOSITORY_ROOT / app,
            root / app,
            ignore=shutil.ignore_patterns("vendor", "deployed", "deployments", "__pycache__"),
        )
    return root / "platform.toml"


def table_items(client: Any, table_name: str = DEFAULT_TABLE_NAME) -> list[dict[str, Any]]:
    """Every item of the table, sorted, for before/after comparisons."""
    items = client.scan(TableName=table_name, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def entries_in_table(client: Any, prefix: str, table_name: str = DEFAULT_TABLE_NAME) -> dict[str, Entry]:
    """Each holder key of the prefix with its lease entry (expiry and grant), read straight from the table: the
    semaphore item's ``h`` map, or (wide layout) the holder items, whose number must then equal the count ``n``."""
    item = client.get_item(TableName=table_name, Key=semaphore_key(prefix), ConsistentRead=True).get("Item")
    if item and COUNT in item:
        assert HOLDERS not in item, "a semaphore item in both layouts at once"
        pages = client.get_paginator("query").paginate(
            TableName=table_name,
            KeyConditionExpression="pk = :partition",
            ExpressionAttributeValues={":partition": {"S": holders_partition(prefix)}},
            ConsistentRead=True,
        )
        entries = {row["sk"]["S"]: Entry.unpack(row[ENTRY]["N"]) for page in pages for row in page["Items"]}
        assert int(item[COUNT]["N"]) == len(entries), "the wide layout's count differs from its holder items"
        return entries
    if not item or HOLDERS not in item:
        return {}
    return {key: Entry.unpack(value["N"]) for key, value in item[HOLDERS]["M"].items()}


def layout_is_wide(client: Any, prefix: str, table_name: str = DEFAULT_TABLE_NAME) -> bool | None:
    """Whether the prefix's semaphore item is in the wide layout (a count and holder items) rather than a map;
    None while it has no semaphore item."""
    item = client.get_item(TableName=table_name, Key=semaphore_key(prefix), ConsistentRead=True).get("Item")
    return None if item is None else COUNT in item


@contextlib.contextmanager
def wide_above(cap: int) -> Iterator[None]:
    """Lower ``item_layout.WIDE_ABOVE_CAP`` for a test: prefixes created (or set idle) above ``cap`` are wide."""
    saved = item_layout.WIDE_ABOVE_CAP
    item_layout.WIDE_ABOVE_CAP = cap
    try:
        yield
    finally:
        item_layout.WIDE_ABOVE_CAP = saved


def holders_in_table(client: Any, prefix: str, table_name: str = DEFAULT_TABLE_NAME) -> dict[str, int]:
    """Each holder **key** of the prefix (``item_layout.holder_key``; the table keeps no holder ids) with its
    lease expiry, read straight from the item. Compare with ``keyed({holder: expiry})`` or ``keys_of(holder)``."""
    return {key: entry.expires_at for key, entry in entries_in_table(client, prefix, table_name).items()}


def keys_of(*holders: str) -> set[str]:
    """The holder keys the table stores these holder ids under."""
    return {holder_key(holder) for holder in holders}


def keyed(by_holder: Mapping[str, T]) -> dict[str, T]:
    """A mapping by holder id turned into one by holder key, as the table and ``LeaseSnapshot.holders`` are."""
    keyed_map = {holder_key(holder): value for holder, value in by_holder.items()}
    assert len(keyed_map) == len(by_holder), "two of these holder ids name one holder (an ARN and the ARN with #0?)"
    return keyed_map


def execution_arn(workflow: str, name: str) -> str:
    return arn("states", f"execution:shared-lease-platform-{workflow}-workflow:{name}")


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
                # The count the admissions are conditioned on: a Query of the wide layout's holder items is
                # not a snapshot (a release and an admission may both land inside one), the count is.
                most[0] = max(most[0], sampled.occupancy().held)

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


def start_moto_lease_table() -> tuple[Any, Any]:
    """An in-process moto with the shared lease table, for a hypothesis state machine (which cannot take a
    pytest fixture); returns the started mock, to stop at teardown, and a DynamoDB client."""
    mock = mock_aws()
    mock.start()
    return mock, lease_table_client()


def interruptible() -> None:
    """``preexec_fn`` of a subprocess a test stops with SIGINT: a shell's background job (``make test &``, CI
    runners) starts with SIGINT ignored, which its children inherit, and Python then installs no Ctrl-C handler."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
