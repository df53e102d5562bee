"""Choice rules of the Amazon States Language (comparisons on a Variable, And/Or/Not)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from lease_ops.local_runner.errors import UnsupportedDefinition
from lease_ops.local_runner.paths import select

_MISSING = object()
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_KINDS: dict[str, Callable[[Any], bool]] = {
    "String": lambda value: isinstance(value, str),
    "Numeric": _is_number,
    "Boolean": lambda value: isinstance(value, bool),
}
COMPARATORS = {f"{kind}{order}" for kind in ("String", "Numeric") for order in _ORDER} | {"BooleanEquals"}
TYPE_TESTS = {"IsPresent", "IsNull", "IsString", "IsNumeric", "IsBoolean"}
SUPPORTED_RULE_KEYS = (
    COMPARATORS | {f"{name}Path" for name in COMPARATORS} | TYPE_TESTS | {"StringMatches", "Variable", "Next"}
)


def _wildcard(pattern: str) -> re.Pattern[str]:
    """StringMatches: '*' matches anything, '\\*' is a literal star; nothing else is special."""
    parts = re.split(r"(\\\*|\*)", pattern)
    return re.compile("".join(".*" if part == "*" else re.escape("*" if part == "\\*" else part) for part in parts))


def check_rule(rule: dict[str, Any], where: str, *, top_level: bool) -> None:
    """Refuse rule fields the runner does not implement (e.g. Timestamp comparisons)."""
    for combinator in ("And", "Or"):
        if combinator in rule:
            for nested in rule[combinator]:
                check_rule(nested, where, top_level=False)
            return
    if "Not" in rule:
        check_rule(rule["Not"], where, top_level=False)
        return
    for key in rule:
        if key == "Next" and not top_level:
            raise UnsupportedDefinition(f"{where}: 'Next' is only allowed on a top-level choice rule")
        if key not in SUPPORTED_RULE_KEYS and key != "Comment":
            raise UnsupportedDefinition(f"{where}: choice rule field {key!r} is not supported by the local runner")


def matches(rule: dict[str, Any], data: Any, context: dict[str, Any]) -> bool:
    """Whether ``rule`` holds for the state's (effective) input."""
    if "And" in rule:
        return all(matches(nested, data, context) for nested in rule["And"])
    if "Or" in rule:
        return any(matches(nested, data, context) for nested in rule["Or"])
    if "Not" in rule:
        return not matches(rule["Not"], data, context)
    value = select(rule["Variable"], data, context, default=_MISSING)
    if "IsPresent" in rule:
        return (value is not _MISSING) == rule["IsPresent"]
    if value is _MISSING:
        # Step Functions fails the execution when a comparison's Variable does not exist.
        select(rule["Variable"], data, context)
    tests = {
        "IsNull": lambda: value is None,
        "IsString": lambda: isinstance(value, str),
        "IsNumeric": lambda: _is_number(value),
        "IsBoolean": lambda: isinstance(value, bool),
    }
    for test, holds in tests.items():
        if test in rule:
            return holds() == rule[test]
    if "StringMatches" in rule:
        return isinstance(value, str) and _wildcard(rule["StringMatches"]).fullmatch(value) is not None
    for key, expected in rule.items():
        if key in ("Variable", "Next", "Comment"):
            continue
        name = key.removesuffix("Path")
        if key.endswith("Path"):
            expected = select(expected, data, context)
        kind = next(k for k in _KINDS if name.startswith(k))
        order = name[len(kind) :]
        if not (_KINDS[kind](value) and _KINDS[kind](expected)):
            return False
        return _ORDER[order](value, expected)
    raise UnsupportedDefinition(f"choice rule has no comparison: {rule}")
