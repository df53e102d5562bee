"""The analytics workload's real work: per-key statistics over a batch of records."""

from __future__ import annotations

import math
from typing import Any

MAX_RECORDS = 10_000
MAX_KEY_LENGTH = 128


class InvalidRecords(Exception):
    """The records to aggregate are missing or malformed; retrying cannot help."""


def _record_fields(index: int, record: Any) -> tuple[str, float]:
    if not isinstance(record, dict) or set(record) != {"key", "value"}:
        raise InvalidRecords(f'records[{index}] must be an object {{"key": str, "value": number}}, got {record!r:.80}')
    key, value = record["key"], record["value"]
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidRecords(f"records[{index}].key must be a string of 1-{MAX_KEY_LENGTH} characters")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRecords(f"records[{index}].value must be a finite number, got {value!r:.40}")
    return key, float(value)


def aggregate_records(event: Any) -> dict[str, Any]:
    """Group ``event["records"]`` by key and return count, sum, min, max and mean per key."""
    if not isinstance(event, dict) or set(event) != {"records"}:
        raise InvalidRecords('event must be an object {"records": [{"key": str, "value": number}, ...]}')
    records = event["records"]
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_RECORDS:
        raise InvalidRecords(f"records must be a list of 1-{MAX_RECORDS} records")
    groups: dict[str, dict[str, float]] = {}
    for index, record in enumerate(records):
        key, value = _record_fields(index, record)
        group = groups.setdefault(key, {"count": 0, "sum": 0.0, "min": value, "max": value})
        group["count"] += 1
        group["sum"] += value
        group["min"] = min(group["min"], value)
        group["max"] = max(group["max"], value)
    for group in groups.values():
        group["mean"] = group["sum"] / group["count"]
    return {"records": len(records), "groups": dict(sorted(groups.items()))}
