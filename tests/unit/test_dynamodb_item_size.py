"""Item sizes counted DynamoDB's way, the measure of its 400 KB item limit.

https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
"""

from __future__ import annotations

import math

import pytest

from tests.dynamodb_item_size import (
    MAX_ITEM_BYTES,
    MAX_NUMBER_BYTES,
    attribute_size,
    item_size,
    nesting_depth,
    number_size,
    value_size,
)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "abc"}, 3),
        ({"S": "ü"}, 2),  # UTF-8 bytes, not characters
        ({"S": "\U00020000"}, 4),  # a character outside the Basic Multilingual Plane: 4 bytes
        ({"B": b"\x00\x01\x02"}, 3),  # raw bytes
        ({"B": "AAEC"}, 3),  # the same bytes as base64 on the wire: still 3
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"M": {}}, 3),
        ({"L": []}, 3),
        ({"M": {"a": {"N": "12"}}}, 3 + (1 + 2 + 1)),  # overhead + (name + value + element byte)
        ({"L": [{"S": "ab"}, {"S": "c"}]}, 3 + (2 + 1) + (1 + 1)),
        ({"SS": ["a", "bc"]}, 3),
    ],
)
def test_each_attribute_type_is_sized_by_dynamodbs_rules(value: dict, size: int) -> None:
    assert value_size(value) == size


@pytest.mark.parametrize(
    ("number", "size"),
    [
        ("7", 2),
        ("1800000000", 2),  # trailing zeroes are trimmed: "18"
        ("1712345678", 6),  # an epoch second: 10 digits, 5 pairs
        ("123456", 4),
        ("-12.5", 3),
        ("0.001", 2),
        ("0", 2),
    ],
)
def test_a_number_takes_a_byte_per_two_significant_digits_plus_one(number: str, size: int) -> None:
    assert number_size(number) == size


@pytest.mark.parametrize("number", ["7", "110", "1712345678", "-12.5", "9" * 38, "1" + "0" * 37 + "1", "3.14159"])
def test_a_number_is_never_sized_below_the_documented_approximation(number: str) -> None:
    significant = number.lstrip("-").replace(".", "").strip("0")
    assert number_size(number) >= math.ceil(len(significant) / 2) + 1


def test_the_largest_number_takes_at_most_21_bytes() -> None:
    assert number_size("9" * 38 + "0") == MAX_NUMBER_BYTES  # 38 digits starting on an odd power: 20 pairs
    assert number_size("9" * 38) == MAX_NUMBER_BYTES - 1


def test_an_items_size_counts_every_attribute_name_and_value() -> None:
    item = {"pk": {"S": "bench#semaphore"}, "sk": {"S": "semaphore"}, "cap": {"N": "15"}}

    assert item_size(item) == (2 + 15) + (2 + 9) + (3 + 2)
    assert attribute_size("cap", {"N": "15"}) == 3 + 2
    assert item_size(None) == 0


def test_the_item_limit_is_400_binary_kilobytes() -> None:
    assert MAX_ITEM_BYTES == 409_600


def test_nesting_depth_counts_maps_and_lists_inside_each_other() -> None:
    assert nesting_depth({"S": "x"}) == 0
    assert nesting_depth({"M": {"a": {"N": "1"}}}) == 1
    assert nesting_depth({"M": {"a": {"L": [{"M": {}}]}}}) == 3
