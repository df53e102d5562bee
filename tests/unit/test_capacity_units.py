"""DynamoDB's sizing and billing rules, as the benchmark's capacity meter applies them."""

from __future__ import annotations

import pytest

from benchmarks.capacity import item_size, value_size
from benchmarks.suite import ceiling


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "abc"}, 3),
        ({"S": "ü"}, 2),  # UTF-8 bytes, not characters
        ({"N": "7"}, 2),
        ({"N": "1800000000"}, 2),  # significant digits only: "18"
        ({"N": "123456"}, 4),
        ({"N": "-12.5"}, 3),
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"M": {}}, 3),
        ({"M": {"a": {"N": "12"}}}, 3 + 1 + 2 + 1),
        ({"L": [{"S": "ab"}, {"S": "c"}]}, 3 + (2 + 1) + (1 + 1)),
    ],
)
def test_each_attribute_type_is_sized_by_dynamodbs_rules(value: dict, size: int) -> None:
    assert value_size(value) == size


def test_an_items_size_counts_every_attribute_name_and_value() -> None:
    item = {"pk": {"S": "bench#semaphore"}, "sk": {"S": "semaphore"}, "cap": {"N": "15"}}

    assert item_size(item) == (2 + 15) + (2 + 9) + (3 + 2)
    assert item_size(None) == 0


def test_the_partition_ceiling_is_the_tighter_of_its_write_and_read_limits() -> None:
    assert ceiling(2, 0) == 500.0
    assert ceiling(2, 30) == 100.0  # 3,000 RCU/s over 30 read units per admission
    assert ceiling(0, 0) == float("inf")
