"""The burst benchmark (``benchmarks/burst``): its DynamoDB model does what DynamoDB does, and a small burst run
through the real lease core keeps the cap in both wait modes, while the same check catches a baseline that does
not.

What DynamoDB does, per its documentation:
- partitions serve at most 1,000 write units per second
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html);
- a write is billed by the larger of the item before and after, in 1 KB units, a write whose condition failed
  too (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html);
- a transaction that includes an item of another ongoing transaction is cancelled with TransactionConflict,
  and a single write to such an item fails with TransactionConflictException; reads do not conflict
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling);
- an item is at most 400 KB (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-items).
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.endpoint
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from benchmarks.burst.__main__ import main
from benchmarks.burst.combine import main as combine_main
from benchmarks.burst.core_calls import LeaseCoreCalls, pausing_modules, seeded_secrets
from benchmarks.burst.dynamodb_model import DynamoDBModel, stored_item_size
from benchmarks.burst.fast_paths import cast_value, copy_value, fast_parser, faster_moto, to_regular_json
from benchmarks.burst.report import (
    SECTION_END,
    evaluate_targets,
    prefix_rows,
    render_markdown,
    results_section,
    with_results_section,
)
from benchmarks.burst.scenarios import PrefixPlan, RunPlan, run_plan
from benchmarks.burst.simulation import Simulation, simulated_time
from benchmarks.capacity import item_size
from lease_core import item_layout
from lease_core.item_layout import holders_partition, new_grant
from lease_core.semaphore import LeaseSemaphore
from lease_ops.aws.table import create_lease_table
from tests.helpers import NO_RETRIES, REGION, TABLE, arn, aws_client, lease_table_client

ARN = arn("states", "execution:shared-lease-platform-burst-workflow:")


def holder(index: int) -> str:
    return f"{ARN}{index:08d}-0000-4000-8000-000000000000#0"


class Harness:
    """A simulation, the DynamoDB model, and clients that go through it (plain ones for set-up)."""

    def __init__(self, *, create_table: bool = True) -> None:
        self.simulation = Simulation()
        self.model = DynamoDBModel(self.simulation, random.Random(7), region=REGION)
        self.plain = lease_table_client() if create_table else aws_client("dynamodb")
        self.results: dict[str, Any] = {}

    def client(self, config: Config = NO_RETRIES) -> Any:
        session = botocore.session.get_session()
        return self.model.attach(session.create_client("dynamodb", region_name=REGION, config=config))

    def at(self, when: float, name: str, work: Callable[[], Any]) -> None:
        def record(result: Any, error: BaseException | None) -> None:
            self.results[name] = error if error is not None else result

        self.simulation.at(when, lambda: self.simulation.spawn(work, record))

    def run(self) -> dict[str, Any]:
        with simulated_time(self.simulation, sleeping=[botocore.endpoint], clocked=pausing_modules()):
            self.simulation.run()
        self.simulation.close()
        return self.results


@pytest.fixture
def harness() -> Iterator[Harness]:
    with mock_aws():
        yield Harness()


def error_code(outcome: Any) -> str | None:
    return outcome.response["Error"]["Code"] if isinstance(outcome, ClientError) else None


def keys_of_prefix(client: Any, prefix: str) -> list[dict[str, Any]]:
    """The keys of the items the core keeps for ``prefix`` (their partition keys start with ``<prefix>#``)."""
    items = client.scan(TableName=TABLE)["Items"]
    return [{"pk": item["pk"], "sk": item["sk"]} for item in items if item["pk"]["S"].startswith(f"{prefix}#")]


# -- the DynamoDB model ---------------------------------------------------------------------------------


def test_writes_are_billed_by_the_larger_of_the_item_before_and_after_a_failed_condition_too(
    harness: Harness,
) -> None:
    client = harness.client()
    key = {"pk": {"S": "billing#item"}, "sk": {"S": "item"}}
    harness.plain.put_item(TableName=TABLE, Item={**key, "a": {"S": "a" * 2500}})  # about 2.5 KB

    def grow() -> Any:
        return client.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET #b = :b",
            ExpressionAttributeNames={"#b": "b"},
            ExpressionAttributeValues={":b": {"S": "b" * 2000}},
        )

    def refused() -> Any:
        return client.put_item(TableName=TABLE, Item=key, ConditionExpression="attribute_not_exists(pk)")

    harness.at(0.0, "grow", grow)
    harness.at(1.0, "refused", refused)
    harness.at(2.0, "delete", lambda: client.delete_item(TableName=TABLE, Key=key))
    harness.at(3.0, "read", lambda: client.get_item(TableName=TABLE, Key=key, ConsistentRead=True))
    results = harness.run()

    assert error_code(results["refused"]) == "ConditionalCheckFailedException"
    # 2.5 KB -> 4.5 KB: 5 units; the refused put, by the 4.5 KB it found: 5; the delete, by what it removed: 5.
    assert harness.model.meter.write_units == 5 + 5 + 5
    assert harness.model.meter.read_units == 1.0  # no item: the one-unit minimum


def test_a_batch_read_bills_each_item_as_its_own_read_and_is_refused_whole_on_a_throttled_partition(
    harness: Harness,
) -> None:
    # A partition serving 3 read units a second, so that the first batch (4 units) empties its bucket.
    harness.model = DynamoDBModel(harness.simulation, random.Random(7), region=REGION, read_units_per_second=3.0)
    client = harness.client()
    keys = [{"pk": {"S": "batch#queued"}, "sk": {"S": name}} for name in ("big", "small", "missing")]
    harness.plain.put_item(TableName=TABLE, Item={**keys[0], "blob": {"S": "x" * 5_000}})
    harness.plain.put_item(TableName=TABLE, Item=keys[1])

    def batch(consistent: bool) -> Callable[[], Any]:
        return lambda: client.batch_get_item(RequestItems={TABLE: {"Keys": keys, "ConsistentRead": consistent}})

    harness.at(0.0, "consistent", batch(True))
    harness.at(0.05, "throttled", batch(True))
    harness.at(2.0, "eventual", batch(False))
    results = harness.run()

    assert len(results["consistent"]["Responses"][TABLE]) == 2
    assert error_code(results["throttled"]) == "ThrottlingException"
    assert len(results["eventual"]["Responses"][TABLE]) == 2
    # 5 KB is 2 units, the small item 1, the missing one the one-unit minimum: 4; eventually consistent, half;
    # the refused batch nothing.
    assert harness.model.meter.read_units == 4 + 2
    assert harness.model.meter.requests["BatchGetItem"] == 3


def test_the_core_s_requests_go_through_the_model(harness: Harness) -> None:
    core = LeaseCoreCalls(TABLE, "burst", 15, 600, "poll", harness.simulation.clock)
    core.set_up(harness.plain, task_seconds=130)
    client = harness.client()
    harness.at(0.0, "acquire", lambda: core.acquire(client, None, holder(1), waiting_since=harness.simulation.clock()))
    harness.at(1.0, "release", lambda: core.release(client, None, holder(1)))
    results = harness.run()

    assert results["acquire"]["status"] == "acquired"
    assert results["release"]["status"] == "released"
    assert sum(harness.model.meter.requests.values()) >= 2
    assert harness.model.meter.write_units >= 2
    assert core.holders_in_table(harness.plain, harness.model.items_in_partition) == 0


def test_the_model_sizes_stored_items_exactly_as_the_capacity_meter_sizes_their_json(harness: Harness) -> None:
    core = LeaseCoreCalls(TABLE, "burst", 50, 600, "poll", harness.simulation.clock)
    core.set_up(harness.plain, task_seconds=130)
    for index in range(40):  # outside simulated time: the plain client, as set-up does
        assert core.acquire(harness.plain, None, holder(index))["status"] == "acquired"
    assert core.holders_in_table(harness.plain, harness.model.items_in_partition) == 40
    harness.plain.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "burst#waiters"},
            "sk": {"S": "x"},
            "l": {"L": [{"N": "1.50"}, {"BOOL": True}, {"NULL": True}, {"SS": ["a", "ü"]}]},
            "n": {"NS": ["10", "-0.001"]},
        },
    )
    table = harness.model.backend.get_table(TABLE)
    for item in table.all_items():
        assert stored_item_size(item) == item_size(item.to_json()["Attributes"])


def test_a_partition_driven_over_a_thousand_write_units_a_second_is_throttled_and_another_is_not(
    harness: Harness,
) -> None:
    client = harness.client()
    payload = "x" * 3900  # about 4 KB: four write units a put

    def put(partition: str, index: int) -> Callable[[], Any]:
        item = {"pk": {"S": partition}, "sk": {"S": f"{index:05d}"}, "data": {"S": payload}}
        return lambda: client.put_item(TableName=TABLE, Item=item)

    for index in range(300):  # 1,200 write units within 30 ms
        harness.at(index * 0.0001, f"hot-{index}", put("hot#partition", index))
    harness.at(0.015, "cold", put("cold#partition", 0))
    results = harness.run()

    hot = [results[f"hot-{index}"] for index in range(300)]
    throttled = [outcome for outcome in hot if error_code(outcome) == "ThrottlingException"]
    assert len(throttled) > 0
    assert all(error_code(outcome) in (None, "ThrottlingException") for outcome in hot)
    assert throttled[0].response["throttlingReasons"][0]["reason"] == "TableWriteKeyRangeThroughputExceeded"
    # One second's worth in the bucket, what 1,000 units a second refill in the 30 ms of the burst, and at most
    # one write let in on the last unit.
    assert harness.model.meter.by_label["hot"]["write_units"] <= 1000 + 1000 * 0.030 + 4
    assert error_code(results["cold"]) is None


def test_transactions_that_overlap_on_an_item_conflict_while_reads_and_later_transactions_do_not(
    harness: Harness,
) -> None:
    client = harness.client()
    key = {"pk": {"S": "burst#semaphore"}, "sk": {"S": "semaphore"}}
    other = {"pk": {"S": "burst#waiters"}, "sk": {"S": "1"}}
    harness.plain.put_item(TableName=TABLE, Item={**key, "n": {"N": "0"}})

    def transaction(*keys: dict[str, Any]) -> Callable[[], Any]:
        updates = [
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": item,
                    "UpdateExpression": "ADD #n :one",
                    "ExpressionAttributeNames": {"#n": "n"},
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            }
            for item in keys
        ]
        return lambda: client.transact_write_items(TransactItems=updates)

    def single_write() -> Any:
        return client.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="ADD #n :one",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    harness.at(0.0, "first", transaction(key, other))
    harness.at(0.002, "overlapping", transaction(other, key))
    harness.at(0.003, "single write", single_write)
    harness.at(0.004, "read", lambda: client.get_item(TableName=TABLE, Key=key, ConsistentRead=True))
    harness.at(1.0, "later", transaction(key))
    results = harness.run()

    assert error_code(results["first"]) is None
    assert error_code(results["overlapping"]) == "TransactionCanceledException"
    assert [reason["Code"] for reason in results["overlapping"].response["CancellationReasons"]] == [
        "TransactionConflict",
        "TransactionConflict",
    ]
    assert error_code(results["single write"]) == "TransactionConflictException"
    assert results["read"]["Item"]["n"] == {"N": "1"}
    assert error_code(results["later"]) is None
    assert harness.model.meter.conflicts == {"TransactionCanceledException": 1, "TransactionConflictException": 1}


def test_the_core_takes_its_own_retry_path_when_its_write_meets_a_transaction_in_flight(harness: Harness) -> None:
    core = LeaseCoreCalls(TABLE, "burst", 10, 600, "poll", harness.simulation.clock)
    core.set_up(harness.plain, task_seconds=130)
    client = harness.client()
    hold = [  # a transaction in flight on every item the core keeps for the prefix
        {
            "Update": {
                "TableName": TABLE,
                "Key": key,
                "UpdateExpression": "SET #t = :t",
                "ExpressionAttributeNames": {"#t": "touched"},
                "ExpressionAttributeValues": {":t": {"N": "1"}},
            }
        }
        for key in keys_of_prefix(harness.plain, "burst")
    ]
    assert hold
    harness.at(0.0, "transaction", lambda: client.transact_write_items(TransactItems=hold))
    harness.at(
        0.001, "acquire", lambda: core.acquire(client, None, holder(1), waiting_since=harness.simulation.clock())
    )
    results = harness.run()

    assert results["acquire"]["status"] == "acquired"  # lease_core.store paused and wrote again
    assert harness.model.meter.conflicts["TransactionConflictException"] >= 1


def test_a_write_that_would_leave_an_item_over_400_kb_is_refused_and_the_item_stays_as_it_was(
    harness: Harness,
) -> None:
    client = harness.client()
    key = {"pk": {"S": "big"}, "sk": {"S": "item"}}
    harness.plain.put_item(TableName=TABLE, Item={**key, "a": {"S": "a" * 300_000}})
    harness.at(
        0.0,
        "grow",
        lambda: client.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET #b = :b",
            ExpressionAttributeNames={"#b": "b"},
            ExpressionAttributeValues={":b": {"S": "b" * 150_000}},
        ),
    )
    results = harness.run()

    assert error_code(results["grow"]) == "ValidationException"
    stored = harness.plain.get_item(TableName=TABLE, Key=key)["Item"]
    assert set(stored) == {"pk", "sk", "a"}
    assert harness.model.meter.write_units == 0


# -- the fast paths -------------------------------------------------------------------------------------


NESTED = {
    "pk": {"S": "p"},
    "sk": {"S": "s"},
    "holders": {"M": {holder(i): {"M": {"a": {"N": "1767225600"}, "e": {"N": "1767226200"}}} for i in range(5)}},
    "list": {"L": [{"N": "1.50"}, {"BOOL": False}, {"NULL": True}, {"SS": ["a", "b"]}, {"M": {}}]},
    "numbers": {"NS": ["1", "2.5"]},
}


def test_the_fast_moto_conversions_equal_the_ones_they_replace() -> None:
    value = DynamoType(NESTED["holders"])
    listed = DynamoType(NESTED["list"])
    numbers = DynamoType(NESTED["numbers"])
    for original in (value, listed, numbers):
        assert to_regular_json(original) == original.to_regular_json()
        assert cast_value(original) == original.cast_value
        copied = copy_value(original)
        assert copied == original and copied is not original and copied.to_json() == original.to_json()
    copied = copy_value(value)
    copied.value[holder(0)].value["a"] = DynamoType({"N": "0"})
    assert value.value[holder(0)].value["a"] == DynamoType({"N": "1767225600"})


def _operations(client: Any) -> list[Any]:
    create_lease_table(client, TABLE)
    key = {"pk": NESTED["pk"], "sk": NESTED["sk"]}
    answers: list[Any] = [client.put_item(TableName=TABLE, Item=NESTED)]
    answers.append(client.get_item(TableName=TABLE, Key=key, ConsistentRead=True))
    answers.append(
        client.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET #x = :x",
            ExpressionAttributeNames={"#x": "x"},
            ExpressionAttributeValues={":x": {"N": "3"}},
            ReturnValues="ALL_NEW",
        )
    )
    for request in (
        lambda: client.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET #x = :x",
            ConditionExpression="attribute_not_exists(pk)",
            ExpressionAttributeNames={"#x": "x"},
            ExpressionAttributeValues={":x": {"N": "4"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        ),
        lambda: client.transact_write_items(
            TransactItems=[
                {"ConditionCheck": {"TableName": TABLE, "Key": key, "ConditionExpression": "attribute_not_exists(pk)"}}
            ]
        ),
    ):
        with pytest.raises(ClientError) as failure:
            request()
        answers.append({name: value for name, value in failure.value.response.items() if name != "ResponseMetadata"})
    answers.append(
        client.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "p"}},
            ConsistentRead=True,
            Limit=1,
        )
    )
    for partition in ("a", "q", "z"):  # the asked partition between two others, its items put out of order
        for sort in ("3", "1", "4", "2"):
            client.put_item(TableName=TABLE, Item={"pk": {"S": partition}, "sk": {"S": sort}, "e": {"N": sort}})
    by_partition = {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "q"}}}
    answers.append(client.query(TableName=TABLE, **by_partition, Limit=2))
    answers.append(client.query(TableName=TABLE, **by_partition, ExclusiveStartKey=answers[-1]["LastEvaluatedKey"]))
    answers.append(client.query(TableName=TABLE, **by_partition, ScanIndexForward=False))
    answers.append(
        client.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p AND sk > :s",
            FilterExpression="e <> :two",
            ExpressionAttributeValues={":p": {"S": "q"}, ":s": {"S": "1"}, ":two": {"N": "2"}},
            Select="COUNT",
        )
    )
    answers.append(
        client.query(TableName=TABLE, **{**by_partition, "ExpressionAttributeValues": {":p": {"S": "none"}}})
    )
    answers.append(client.delete_item(TableName=TABLE, Key=key, ReturnValues="ALL_OLD"))
    for answer in answers:
        answer.pop("ResponseMetadata", None)
    return answers


def test_the_fast_moto_keeps_no_item_it_creates_once_the_table_has_dropped_it() -> None:
    with mock_aws(), faster_moto():
        client = lease_table_client()
        for index in range(20):
            client.put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": "s"}, "n": {"N": str(index)}})
        kept = Item.instances_tracked  # type: ignore[attr-defined]

        assert len(kept) == 0


def test_the_fast_answer_paths_give_the_answers_moto_and_botocore_give() -> None:
    with mock_aws():
        plain = _operations(aws_client("dynamodb"))
    with mock_aws(), faster_moto():
        fast = _operations(fast_parser(aws_client("dynamodb")))

    assert json.loads(json.dumps(fast)) == json.loads(json.dumps(plain))


# -- a small burst --------------------------------------------------------------------------------------

TINY = (PrefixPlan("burst", 5, 20),)  # 20 executions, cap 5, arriving within 0.5 s, Process 1-3 s


@pytest.fixture(scope="module")
def small_burst() -> list[dict[str, Any]]:
    return [
        run_plan(RunPlan("burst", "lease-core", mode, TINY, arrival_seconds=0.5, process_seconds=(1.0, 3.0)))
        for mode in ("poll", "handoff")
    ]


def test_a_small_burst_never_has_more_holders_in_the_table_than_the_cap_in_either_wait_mode(
    small_burst: list[dict[str, Any]],
) -> None:
    for run in small_burst:
        (prefix,) = run["prefixes"]
        assert prefix["over_admission"] == 0, run["label"]
        assert prefix["max_holders_in_table"] == 5, run["label"]  # the cap was reached, never passed
        assert prefix["max_process_at_once"] == 5, run["label"]


def test_every_execution_of_a_small_burst_ends_and_only_the_documented_errors_occur(
    small_burst: list[dict[str, Any]],
) -> None:
    for run in small_burst:
        (prefix,) = run["prefixes"]
        assert prefix["succeeded"] == 20, run["label"]
        assert prefix["unfinished"] == 0, run["label"]
        assert prefix["holders_at_end"] == 0, run["label"]
        assert run["unexpected_errors"] == {}, run["first_unexpected_errors"]


def test_a_small_handoff_burst_loses_no_wakeup_and_polls_never(small_burst: list[dict[str, Any]]) -> None:
    handoff = next(run for run in small_burst if run["wait_mode"] == "handoff")
    (prefix,) = handoff["prefixes"]
    assert prefix["lost_wakeups"] == 0
    assert prefix["polls"] == 0
    assert prefix["p99_slot_free_to_admission"] < 1.0
    assert handoff["dynamodb"]["requests"]["TransactWriteItems"] > 0  # queueings and hand-overs


def test_the_cap_check_catches_count_then_put_admitting_over_the_cap_in_a_burst() -> None:
    (run,) = [run_plan(RunPlan("burst", "count-then-put", "poll", TINY, arrival_seconds=0.05, process_seconds=(1, 3)))]
    (prefix,) = run["prefixes"]

    assert prefix["over_admission"] > 0  # its count and its put are two requests: callers race between them
    assert prefix["max_process_at_once"] > 5


@pytest.mark.parametrize("cap", [5, 500], ids=["narrow", "wide"])
def test_the_cap_check_counts_the_holders_the_table_stores_not_the_count_the_core_keeps(
    harness: Harness, cap: int
) -> None:
    calls = LeaseCoreCalls(TABLE, "burst", cap, 600, "poll", clock=lambda: 1_000.0)
    calls.set_up(harness.plain, task_seconds=120)
    for index in range(3):
        calls.acquire(harness.plain, None, holder(index))
    listed = LeaseSemaphore(harness.plain, TABLE, "burst", ttl_seconds=600).inspect().holders
    assert calls.holders_in_table(harness.plain, harness.model.items_in_partition) == len(listed) == 3

    if cap > 5:  # a holder item the core's count does not know of, as a core that over-admitted would leave
        stored = harness.plain.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :partition",
            ExpressionAttributeValues={":partition": {"S": holders_partition("burst")}},
        )["Items"][0]
        harness.plain.put_item(TableName=TABLE, Item={**stored, "sk": {"S": "one-more"}})
        assert calls.holders_in_table(harness.plain, harness.model.items_in_partition) == 4
        assert LeaseSemaphore(harness.plain, TABLE, "burst", ttl_seconds=600).occupancy().count == 3


def test_the_core_s_grants_are_drawn_from_the_run_s_seed_while_it_runs_and_from_secrets_after() -> None:
    def grants(seed: int) -> list[int]:
        with seeded_secrets(random.Random(seed)):
            return [new_grant() for _ in range(20)]

    assert grants(4) == grants(4) != grants(5)
    assert item_layout.secrets is secrets


def _without_wall_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _without_wall_times(item) for name, item in value.items() if name != "wall_seconds"}
    if isinstance(value, list):
        return [_without_wall_times(item) for item in value]
    return value


def test_a_handoff_run_repeats_exactly_for_its_seed() -> None:
    plan = RunPlan("burst", "lease-core", "handoff", TINY, arrival_seconds=0.5, process_seconds=(1.0, 3.0))

    assert _without_wall_times(run_plan(plan)) == _without_wall_times(run_plan(plan))


def test_a_process_step_longer_than_its_function_s_timeout_fails_closed_and_gives_its_slot_back() -> None:
    plan = RunPlan("burst", "lease-core", "poll", (PrefixPlan("burst", 1, 1),), process_seconds=(125.0, 125.0))
    (prefix,) = run_plan(plan)["prefixes"]

    assert prefix["failed_by_error"] == {"Sandbox.Timedout": 1}  # Lambda stopped it at 120 s
    assert prefix["max_holders_in_table"] == 1
    assert prefix["admitted"] == 1
    assert prefix["unfinished"] == 0
    assert prefix["holders_at_end"] == 0


def burst_document(runs: list[dict[str, Any]], command: str = "test", executions: int = 20) -> dict[str, Any]:
    """What ``python -m benchmarks.burst`` writes for these runs, at the small burst's sizes."""
    rows = prefix_rows(runs, 0.625, 0.125)
    return {
        "meta": {
            "command": command,
            "date": "today",
            "wall_seconds": 1.0,
            "machine": {"cpus": 2, "system": "Linux", "python": "3.11", "load_average": "0"},
            "scale": {
                "burst_executions": executions,
                "burst_cap": 5,
                "arrival_seconds": 0.5,
                "mix_executions": 0,
                "mix_caps": [],
                "full": False,
                "why": "a test",
            },
        },
        "prices": {"write": 0.625, "read": 0.125},
        "runs": runs,
        "rows": rows,
        "targets": evaluate_targets(rows),
    }


def test_the_report_of_a_small_burst_states_each_target_for_each_wait_mode(small_burst: list[dict[str, Any]]) -> None:
    document = burst_document(small_burst)
    rows, targets = document["rows"], document["targets"]
    markdown = render_markdown(document)

    assert [(t["mode"], t["target"].split(" ")[0]) for t in targets] == [
        ("poll", "zero"),
        ("poll", "no"),
        ("poll", "throughput"),
        ("handoff", "zero"),
        ("handoff", "no"),
        ("handoff", "throughput"),
        ("handoff", "p99"),
    ]
    assert next(t for t in targets if t["mode"] == "handoff" and t["target"].startswith("zero"))["met"] is True
    assert "| lease-core, poll | 20 |" in markdown and "| lease-core, handoff | 20 |" in markdown
    assert "**Not issue 14's scale** (a test)" in markdown
    assert all(row["cost_per_1000"] > 0 for row in rows)


def test_a_missed_target_is_reported_as_missed_with_its_figure(small_burst: list[dict[str, Any]]) -> None:
    rows = prefix_rows(small_burst, 0.625, 0.125)
    handoff = next(row for row in rows if row["wait_mode"] == "handoff")
    handoff["p99_slot_free_to_admission"] = 2.5
    handoff["over_admission"] = 1

    targets = {(t["mode"], t["target"].split(" ")[0]): t for t in evaluate_targets(rows)}

    slot_free, cap = targets[("handoff", "p99")], targets[("handoff", "zero")]
    assert slot_free["met"] is False and "p99 2.500 s" in slot_free["measured"]
    assert cap["met"] is False and "over the cap: 1" in cap["measured"]
    assert targets[("poll", "zero")]["met"] is True


def test_each_prefix_of_the_regional_mix_is_judged_against_the_throughput_target(
    small_burst: list[dict[str, Any]],
) -> None:
    rows = prefix_rows(small_burst, 0.625, 0.125)
    mixed = [{**row, "scenario": "mix", "prefix": "mix-cap-5"} for row in rows]
    for row in mixed:
        row["throughput_of_bound"] = 0.81 if row["wait_mode"] == "poll" else 0.99

    targets = [t for t in evaluate_targets(mixed) if t["target"].startswith("throughput")]

    assert [(t["mode"], t["target"].endswith("(mix: `mix-cap-5`, cap 5)")) for t in targets] == [
        ("poll", True),
        ("handoff", True),
    ]
    assert [t["met"] for t in targets] == [False, True]


def test_the_command_writes_burst_md_and_results_json_where_it_is_told(tmp_path: Path) -> None:
    out = tmp_path / "burst"
    status = main(
        [
            "--quick",
            "--scenarios",
            "burst",
            "--runs",
            "lease-core-handoff",
            "--executions",
            "12",
            "--cap",
            "4",
            "--process-seconds",
            "1",
            "2",
            "--out",
            str(out),
        ]
    )

    results = json.loads((out / "results.json").read_text())
    assert status == 0
    assert (out / "BURST.md").read_text().startswith("# Burst benchmark")
    assert [run["label"] for run in results["runs"]] == ["burst: lease-core (handoff)"]
    assert results["meta"]["command"].startswith("python -m benchmarks.burst --quick")
    assert results["meta"]["scale"]["full"] is False


@pytest.mark.parametrize(
    "arguments",
    [["--executions", "0"], ["--process-seconds", "5", "1"], ["--runs", "nobody"], ["--mix-caps", "5,x"]],
)
def test_the_command_refuses_bad_sizes_with_exit_2(arguments: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--quick", "--out", str(tmp_path), *arguments])
    assert exit_.value.code == 2
    assert not (tmp_path / "results.json").exists()


# -- runs made one by one, combined into one report ---------------------------------------------------------


def write_runs(folder: Path, documents: dict[str, dict[str, Any]]) -> list[Path]:
    paths = []
    for name, document in documents.items():
        (folder / name).mkdir()
        paths.append(folder / name / "results.json")
        paths[-1].write_text(json.dumps(document))
    return paths


def test_runs_made_one_by_one_combine_into_one_report_judged_as_one_run(
    small_burst: list[dict[str, Any]], tmp_path: Path
) -> None:
    poll, handoff = small_burst
    paths = write_runs(
        tmp_path,
        {"poll": burst_document([poll], "run poll"), "handoff": burst_document([handoff], "run handoff")},
    )

    status = combine_main([*map(str, paths), "--markdown", str(tmp_path / "BURST.md")])

    combined = json.loads((tmp_path / "BURST.json").read_text())
    markdown = (tmp_path / "BURST.md").read_text()
    assert status == 0
    assert combined["targets"] == burst_document(small_burst)["targets"]
    assert [source["command"] for source in combined["meta"]["sources"]] == ["run poll", "run handoff"]
    assert "- `run poll`, on today in" in markdown and "- `run handoff`, on today in" in markdown
    assert "| lease-core, poll | 20 |" in markdown and "| lease-core, handoff | 20 |" in markdown


def test_a_combined_report_renders_again_from_its_own_json_with_the_same_runs(
    small_burst: list[dict[str, Any]], tmp_path: Path
) -> None:
    paths = write_runs(tmp_path, {"both": burst_document(small_burst, "run both")})
    combine_main([str(paths[0]), "--markdown", str(tmp_path / "first.md")])

    status = combine_main([str(tmp_path / "first.json"), "--markdown", str(tmp_path / "again.md")])

    first, again = (json.loads((tmp_path / name).read_text()) for name in ("first.json", "again.json"))
    assert status == 0
    assert again["meta"]["sources"] == first["meta"]["sources"]
    assert (again["runs"], again["rows"], again["targets"]) == (first["runs"], first["rows"], first["targets"])


def test_a_run_stopped_at_a_shorter_horizon_combines_and_the_report_says_where_it_stopped(
    small_burst: list[dict[str, Any]], tmp_path: Path
) -> None:
    poll, _ = small_burst
    stopped = run_plan(
        RunPlan(
            "burst",
            "count-then-put",
            "poll",
            TINY,
            arrival_seconds=0.5,
            process_seconds=(1.0, 3.0),
            max_simulated_seconds=2.0,
        )
    )
    paths = write_runs(tmp_path, {"core": burst_document([poll]), "baseline": burst_document([stopped])})

    status = combine_main([*map(str, paths), "--markdown", str(tmp_path / "BURST.md")])

    markdown = (tmp_path / "BURST.md").read_text()
    (row,) = [line for line in markdown.splitlines() if line.startswith("| burst: count-then-put")]
    unfinished = stopped["prefixes"][0]["unfinished"]
    assert status == 0 and unfinished > 0
    assert f"| 2: stopped at its horizon, {unfinished:,} executions not ended |" in row
    assert f"(+{unfinished:,} unfinished)" in markdown
    combined = json.loads((tmp_path / "BURST.json").read_text())
    assert "and beside them count-then-put." in results_section(combined)
    assert "no baseline was run for it." in results_section(burst_document([poll]))


@pytest.mark.parametrize("clash", ["the same design twice", "different sizes", "not a results file"])
def test_combine_refuses_runs_that_cannot_share_a_report_and_writes_nothing(
    clash: str, small_burst: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    poll, handoff = small_burst
    other = {
        "the same design twice": burst_document([poll]),
        "different sizes": burst_document([handoff], executions=21),
        "not a results file": {"runs": []},
    }[clash]
    paths = write_runs(tmp_path, {"first": burst_document([poll]), "second": other})

    status = combine_main([*map(str, paths), "--markdown", str(tmp_path / "BURST.md")])

    error = capsys.readouterr().err
    assert status == 2
    assert error.startswith("error: ") and error.count("\n") == 1 and "Traceback" not in error
    assert not (tmp_path / "BURST.md").exists() and not (tmp_path / "BURST.json").exists()


def test_the_results_section_of_a_burst_replaces_the_last_one_and_keeps_the_rest(
    small_burst: list[dict[str, Any]],
) -> None:
    document = burst_document(small_burst)
    results_md = "# Benchmark results\n\ntables\n"

    once = with_results_section(results_md, document)
    twice = with_results_section(once.replace("today", "yesterday"), document)

    assert once.startswith(results_md) and once.endswith(SECTION_END + "\n")
    assert twice == once
    assert "| handoff | p99 slot free to next admission at most 1 s | yes |" in once
