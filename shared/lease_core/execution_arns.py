"""Holder ids that name a Step Functions execution run: ``<execution ARN>#<run>``, optionally followed by
``/<index>`` (a Map iteration).

The run is the execution's redrive count (``$$.Execution.RedriveCount``, 0 until redriven). A redriven
execution keeps its ARN but restarts at the state that did not succeed, while a task of the stopped run
may still be running (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html), so
each run holds its leases and its queue places under its own id: a redriven run never inherits the
stopped run's lease, and cleanup of one run never touches another's. A holder id without ``#<run>``
(a plain ``$$.Execution.Id``) counts as run 0. ``#`` cannot occur in an execution or state machine name.
"""

from __future__ import annotations

import re

EXECUTION_ARN = re.compile(
    r"(?P<arn>arn:(?P<partition>[a-z-]+):states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"execution:[^:/#]+:[^:/#]+)(?:#(?P<run>\d{1,9}))?(?:/.*)?"
)


def execution_of(holder: str) -> re.Match[str] | None:
    """The Standard execution ARN a holder id names (``arn`` group) and its run (``run`` group), if it names one."""
    return EXECUTION_ARN.fullmatch(holder)


def run_of(match: re.Match[str]) -> int:
    """The run (redrive count) a matched holder id names; 0 when it names none."""
    return int(match["run"]) if match["run"] is not None else 0


def holder_run(holder: str, execution_arn: str) -> int | None:
    """The run of ``holder`` if it is a holder of ``execution_arn`` (any run, any Map iteration), else None."""
    match = execution_of(holder)
    if match is None or match["arn"] != execution_arn:
        return None
    return run_of(match)
