"""Validation of every value that reaches the table, with messages that say what is expected.

Everything is checked before any DynamoDB call, so a bad request never writes.
"""

from __future__ import annotations

import re
from typing import Any

from lease_core.errors import InvalidLeaseRequest

# Prefixes and table names are ASCII by their patterns (explicit ranges, no \w), so their lengths in
# characters are their lengths in UTF-8 bytes, the unit of DynamoDB's limits
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-naming-rules).
PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,47}")
TABLE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,255}")
# A holder is a key of the semaphore item's ``holders`` map, and DynamoDB counts an item's size (at most
# 400 KB, attribute and map-key names included) in UTF-8 bytes, not characters:
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
# 256 bytes keeps the largest semaphore item (MAX_CAP holders of MAX_HOLDER_BYTES each, with their leases)
# within that limit; tests/functional/test_largest_semaphore_item.py proves it. An execution ARN whose
# state machine and execution names are ASCII (as Step Functions advises) has as many bytes as characters;
# each character outside ASCII takes 2-4 bytes.
MAX_HOLDER_BYTES = 256
MAX_CAP = 1000
MAX_TTL_SECONDS = 7 * 24 * 3600


def _describe(value: Any) -> str:
    """A short, safe rendering of a rejected value for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def utf8_length(text: str) -> int:
    """The length of ``text`` in UTF-8 bytes, as DynamoDB measures strings (a lone surrogate counts 3)."""
    return len(text.encode("utf-8", "surrogatepass"))


def validate_holder(value: Any) -> str:
    """A holder id: printable text of 1-256 bytes in UTF-8 (an execution ARN, optionally ``/<index>``)."""
    if not isinstance(value, str):
        raise InvalidLeaseRequest(
            f"holder must be a string of printable characters, 1-{MAX_HOLDER_BYTES} bytes in UTF-8, "
            f"got {type(value).__name__} {_describe(value)}"
        )
    if not value:
        raise InvalidLeaseRequest(
            f"holder must be a string of printable characters, 1-{MAX_HOLDER_BYTES} bytes in UTF-8, got an empty string"
        )
    size = utf8_length(value)
    if size > MAX_HOLDER_BYTES:
        raise InvalidLeaseRequest(
            f"holder must be at most {MAX_HOLDER_BYTES} bytes in UTF-8, got {size} bytes ({len(value)} characters; "
            "a character outside ASCII takes 2-4 bytes)"
        )
    if not value.isprintable():
        raise InvalidLeaseRequest(
            f"holder must contain only printable characters (no control characters), got {_describe(value)}"
        )
    return value


def validate_prefix(value: Any) -> str:
    """A workload prefix; it starts every partition key of the workload."""
    if not isinstance(value, str) or not PREFIX_PATTERN.fullmatch(value):
        raise InvalidLeaseRequest(
            "prefix must match ^[a-z][a-z0-9-]{0,47}$ (a lower-case letter, then up to 47 "
            f"lower-case letters, digits or '-'), got {_describe(value)}"
        )
    return value


def validate_table_name(value: Any) -> str:
    """A DynamoDB table name."""
    if not isinstance(value, str) or not TABLE_NAME_PATTERN.fullmatch(value):
        raise InvalidLeaseRequest(
            f"table name must be 3-255 characters of letters, digits, '_', '-' or '.', got {_describe(value)}"
        )
    return value


def _whole_number(value: Any, what: str, low: int, high: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidLeaseRequest(f"{what} must be a whole number{unit} from {low} to {high}, got {_describe(value)}")
    return value


def validate_cap(value: Any) -> int:
    """A concurrency cap: how many holders a prefix admits at once."""
    return _whole_number(value, "cap", 1, MAX_CAP)


def validate_ttl_seconds(value: Any) -> int:
    """How long a lease lasts without renewal."""
    return _whole_number(value, "ttl_seconds", 1, MAX_TTL_SECONDS, unit=" of seconds")


def parse_whole_number(text: Any, name: str, low: int, high: int) -> int:
    """Parse a configuration string such as an environment variable into a bounded integer."""
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{1,12}", text.strip()):
        raise InvalidLeaseRequest(f"{name} must be a whole number from {low} to {high}, got {_describe(text)}")
    return _whole_number(int(text.strip()), name, low, high)
