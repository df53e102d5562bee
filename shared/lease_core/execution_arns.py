"""Holder ids that name a Step Functions execution: its ARN, or its ARN and "/<index>" (a Map iteration)."""

from __future__ import annotations

import re

EXECUTION_ARN = re.compile(
    r"(?P<arn>arn:(?P<partition>[a-z-]+):states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"execution:[^:/]+:[^:/]+)(?:/.*)?"
)


def execution_of(holder: str) -> re.Match[str] | None:
    """The Standard execution ARN a holder id names (``arn`` group), if it names one."""
    return EXECUTION_ARN.fullmatch(holder)
