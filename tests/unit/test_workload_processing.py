"""The workloads' own Process steps: real work on good input, a typed error on bad input."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.helpers import load_module

aggregation = load_module("analytics_app/chalicelib/aggregation.py")
transformation = load_module("batch_app/chalicelib/transformation.py")


def test_analytics_aggregates_count_sum_min_max_and_mean_per_key() -> None:
    records = [{"key": "eu", "value": 2}, {"key": "us", "value": 10.5}, {"key": "eu", "value": 4}]

    result = aggregation.aggregate_records({"records": records})

    assert result == {
        "records": 3,
        "groups": {
            "eu": {"count": 2, "sum": 6.0, "min": 2.0, "max": 4.0, "mean": 3.0},
            "us": {"count": 1, "sum": 10.5, "min": 10.5, "max": 10.5, "mean": 10.5},
        },
    }


@pytest.mark.parametrize(
    "event",
    [
        None,
        {},
        {"records": []},
        {"records": "eu"},
        {"records": [{"key": "eu"}]},
        {"records": [{"key": "", "value": 1}]},
        {"records": [{"key": "eu", "value": "1"}]},
        {"records": [{"key": "eu", "value": True}]},
        {"records": [{"key": "eu", "value": float("nan")}]},
        {"records": [{"key": "eu", "value": 1}], "extra": 1},
    ],
)
def test_analytics_refuses_malformed_records_with_invalid_records(event: Any) -> None:
    with pytest.raises(aggregation.InvalidRecords):
        aggregation.aggregate_records(event)


def test_batch_transforms_one_chunk_and_says_where_the_next_starts() -> None:
    items = [{"id": str(n), "text": f"Hello, World {n}!"} for n in range(5)]

    first = transformation.transform_chunk({"items": items, "chunk_size": 2})
    last = transformation.transform_chunk({"items": items, "cursor": 4, "chunk_size": 2})

    assert (first["cursor"], first["done"], first["processed"]) == (2, False, 2)
    assert first["results"][1] == {
        "id": "1",
        "slug": "hello-world-1",
        "words": 3,
        "sha256": hashlib.sha256(b"Hello, World 1!").hexdigest(),
    }
    assert (last["cursor"], last["done"], last["processed"]) == (5, True, 1)


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"items": []},
        {"items": [{"id": "1"}]},
        {"items": [{"id": "", "text": "x"}]},
        {"items": [{"id": "1", "text": 5}]},
        {"items": [{"id": "1", "text": "x"}], "cursor": 2},
        {"items": [{"id": "1", "text": "x"}], "cursor": -1},
        {"items": [{"id": "1", "text": "x"}], "chunk_size": 0},
        {"items": [{"id": "1", "text": "x"}], "chunk_size": "5"},
        {"items": [{"id": "1", "text": "x"}], "unexpected": True},
    ],
)
def test_batch_refuses_malformed_items_or_cursor_with_invalid_batch_items(event: Any) -> None:
    with pytest.raises(transformation.InvalidBatchItems):
        transformation.transform_chunk(event)
