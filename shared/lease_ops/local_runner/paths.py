"""Amazon States Language paths: InputPath/OutputPath/ResultPath, ``.$`` templates and the ``$$`` context.

Path evaluation is jsonpath-ng's; this module adds the ASL rules around it: a
missing path is ``States.Runtime``, ``$$`` reads the context object, a
ResultPath of ``null`` discards the result, and templates are resolved
recursively (a ``.$`` value is a path or an intrinsic function, see ``intrinsics``).
"""

from __future__ import annotations

import copy
import random
from functools import cache
from typing import Any

from jsonpath_ng import JSONPath, parse

from lease_ops.local_runner import intrinsics
from lease_ops.local_runner.errors import RESULT_PATH_MATCH_FAILURE, RUNTIME, StatesError, UnsupportedDefinition

_NO_DEFAULT = object()


@cache
def compiled(path: str) -> JSONPath:
    try:
        return parse(path)
    except Exception as exc:  # jsonpath-ng raises several exception types for bad syntax
        raise UnsupportedDefinition(f"invalid path {path!r}: {exc}") from None


def select(path: str | None, data: Any, context: dict[str, Any], *, default: Any = _NO_DEFAULT) -> Any:
    """The value at ``path`` (``$...`` in ``data``, ``$$...`` in ``context``); ``null`` path gives ``{}``."""
    if path is None:
        return {}
    source, expression = (context, "$" + path[2:]) if path.startswith("$$") else (data, path)
    matches = compiled(expression).find(source)
    if not matches:
        if default is not _NO_DEFAULT:
            return default
        raise StatesError(RUNTIME, f"the path {path!r} matched nothing in the state's input")
    return copy.deepcopy(matches[0].value)


def resolve_template(template: Any, data: Any, context: dict[str, Any], *, rng: random.Random) -> Any:
    """Parameters/ResultSelector: copy ``template``, replacing each ``"key.$": path`` by ``"key": value``.

    A ``.$`` value may also be an intrinsic function (``States.Format(...)``), whose paths read the same
    ``data`` and ``context``; ``States.MathRandom`` draws from ``rng``, the execution's own generator.
    """
    if isinstance(template, dict):
        resolved = {}
        for key, value in template.items():
            if key.endswith(".$") and intrinsics.is_intrinsic(value):
                resolved[key[:-2]] = intrinsics.evaluate(value, lambda path: select(path, data, context), rng=rng)
            elif key.endswith(".$"):
                resolved[key[:-2]] = select(value, data, context)
            else:
                resolved[key] = resolve_template(value, data, context, rng=rng)
        return resolved
    if isinstance(template, list):
        return [resolve_template(item, data, context, rng=rng) for item in template]
    return copy.deepcopy(template)


def apply_result_path(state_input: Any, result: Any, path: str | None) -> Any:
    """Combine the state's raw input with its result as ResultPath says."""
    if path is None:
        return copy.deepcopy(state_input)
    if path == "$":
        return copy.deepcopy(result)
    if not isinstance(state_input, dict):
        raise StatesError(RESULT_PATH_MATCH_FAILURE, f"cannot set {path!r}: the state's input is not an object")
    return compiled(path).update_or_create(copy.deepcopy(state_input), copy.deepcopy(result))
