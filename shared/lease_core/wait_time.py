"""How long a polling execution has waited for a slot, from the ``waiting_since`` of its acquire event.

The poll-mode Acquire task passes ``"waiting_since.$": "$$.Execution.StartTime"``: the context
object's start time of the execution, in ISO 8601 (``"2019-03-26T20:14:13.192Z"``; see
https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html). A wait
answer then says ``waited``, the whole seconds since then, and the workflow's CheckLease waits
longer between polls the longer an execution has waited (``lease_ops.definitions.workflow_builder.WAIT_LADDER``),
which keeps a long wait inside the execution history quota.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

from lease_core.errors import InvalidLeaseRequest

# As Step Functions writes it: UTC ("Z"), to the millisecond (any 0-9 fraction digits are accepted).
# Only ASCII digits; nothing before or after.
WAITING_SINCE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z")


def parse_waiting_since(value: Any) -> float:
    """Epoch seconds of ``waiting_since``: an ISO 8601 UTC timestamp, as ``$$.Execution.StartTime`` is."""
    instant = None
    if isinstance(value, str) and WAITING_SINCE_PATTERN.fullmatch(value):
        try:
            instant = datetime.datetime.fromisoformat(value)
        except ValueError:  # well formed but no such date or time (month 13, 25 o'clock)
            instant = None
    if instant is None:
        shown = repr(value[:61] if isinstance(value, str) else value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise InvalidLeaseRequest(
            'waiting_since must be the execution\'s start time ("waiting_since.$": "$$.Execution.StartTime"), '
            f"an ISO 8601 UTC timestamp like 2019-03-26T20:14:13.192Z, got {shown}"
        )
    return instant.timestamp()


def seconds_waited(since: float, now: float) -> int:
    """Whole seconds from ``since`` to ``now``; never negative, however the two clocks disagree."""
    return max(0, math.floor(now - since))
