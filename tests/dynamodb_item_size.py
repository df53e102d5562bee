"""The size of a DynamoDB item, counted the way DynamoDB counts it against its 400 KB item limit.

Rules, from https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html:

- an item's size is the sum of its attributes; an attribute is the UTF-8 bytes of its name plus
  the size of its value;
- a string is its UTF-8 bytes; a binary value its raw bytes (not its base64 text);
- a number is "approximately" one byte per two significant digits, plus one byte, leading and
  trailing zeroes trimmed;
- a null or a Boolean is one byte;
- a list or a map is 3 bytes of overhead plus its elements, and each element one more byte; a map
  element, like an attribute, also counts the UTF-8 bytes of its name.

"KB" is binary: 1 KB = 1,024 bytes, so the item limit is 409,600 bytes
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-items).

Written by hand, on purpose: the only Python package that sizes items (``dynamo-size``, last released
2020) "roughly" sizes plain Python values, counts no list/map element overhead and would not see the
difference between characters and bytes that this project must get right. Here values are the
low-level attribute values that go over the wire (``{"S": ...}``, ``{"M": {...}}``).

The number rule is the documented one, made safe to rely on: digits are counted in pairs aligned on
the decimal point (``110`` is the pairs ``1|10``, 2 bytes + 1), which is never less than
``ceil(significant digits / 2)``. A size computed here therefore never understates DynamoDB's, so an
item it finds within the limit is within it on DynamoDB too.
"""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal, InvalidOperation
from typing import Any

KB = 1024
MAX_ITEM_BYTES = 400 * KB
# A number has at most 38 significant digits; misaligned, those are 20 pairs: 21 bytes at most.
MAX_NUMBER_BYTES = 21
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-attributes (nested depth)
MAX_NESTING_DEPTH = 32


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def number_size(text: str) -> int:
    """Bytes of a DynamoDB number given as its decimal text (as in ``{"N": "1712345678"}``)."""
    try:
        _, digit_tuple, exponent = Decimal(text.strip()).as_tuple()  # exact: no rounding to a context
    except InvalidOperation:
        raise ValueError(f"not a DynamoDB number: {text!r}") from None
    digits = list(digit_tuple)
    if not isinstance(exponent, int) or not any(digits):
        return 2  # zero (and anything without a finite value) sized as one pair: never less than DynamoDB's
    while digits[0] == 0:  # leading zeroes are trimmed
        digits.pop(0)
    while digits[-1] == 0:  # and trailing ones, each moving the last digit up a power of ten
        digits.pop()
        exponent += 1
    # The last digit stands for 10**exponent, the first for 10**(exponent + len(digits) - 1); pairs are
    # aligned on even powers.
    lowest_pair = exponent // 2
    highest_pair = (exponent + len(digits) - 1) // 2
    return highest_pair - lowest_pair + 1 + 1


def _binary_size(content: Any) -> int:
    """Raw bytes of a binary value: ``bytes`` as given, a ``str`` as the base64 text of the wire format."""
    if isinstance(content, bytes | bytearray | memoryview):
        return len(content)
    try:
        return len(base64.b64decode(content, validate=True))
    except (binascii.Error, ValueError, TypeError):
        return utf8_bytes(str(content))  # not base64: botocore would send the text's UTF-8 bytes


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one low-level attribute value, without its name."""
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"not a DynamoDB attribute value: {value!r}")
    ((kind, content),) = value.items()
    if kind == "S":
        return utf8_bytes(content)
    if kind == "N":
        return number_size(content)
    if kind == "B":
        return _binary_size(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(utf8_bytes(name) + value_size(element) + 1 for name, element in content.items())
    if kind == "L":
        return 3 + sum(value_size(element) + 1 for element in content)
    # Sets: the docs give no overhead for them; their elements are counted as the scalars they are.
    if kind == "SS":
        return sum(utf8_bytes(element) for element in content)
    if kind == "NS":
        return sum(number_size(element) for element in content)
    if kind == "BS":
        return sum(_binary_size(element) for element in content)
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def attribute_size(name: str, value: dict[str, Any]) -> int:
    """Bytes of one top-level attribute: its name plus its value."""
    return utf8_bytes(name) + value_size(value)


def item_size(item: dict[str, Any] | None) -> int:
    """Bytes of a low-level item, as DynamoDB counts them against ``MAX_ITEM_BYTES``."""
    if not item:
        return 0
    return sum(attribute_size(name, value) for name, value in item.items())


def nesting_depth(value: dict[str, Any]) -> int:
    """How deeply lists and maps nest in a value: 0 for a scalar, 1 for a map of scalars."""
    ((kind, content),) = value.items()
    if kind == "M":
        return 1 + max((nesting_depth(element) for element in content.values()), default=0)
    if kind == "L":
        return 1 + max((nesting_depth(element) for element in content), default=0)
    return 0
