"""Edits of a rendered workflow definition that open a way to Process around the lease, one per edit.

Shared by the two checks that must reject each of them: the property check of the rendered definitions
(``lease_ops.definitions.workflow_graph``, tests/unit/test_workflow_definitions.py) and `check`'s rules
(``lease_ops.definitions.lease_check``, tests/unit/test_lease_check.py). Each edit takes the analytics
workflow's definition as ``render_definition`` writes it (poll mode) and changes it in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Mutation = Callable[[dict[str, Any]], None]


def wait_goes_to_process(d: dict[str, Any]) -> None:
    d["States"]["WaitForLease"]["Next"] = "Process"


def default_goes_to_process(d: dict[str, Any]) -> None:
    d["States"]["CheckLease"]["Default"] = "Process"


def wait_status_goes_to_process(d: dict[str, Any]) -> None:
    d["States"]["CheckLease"]["Choices"][1]["Next"] = "Process"


def plain_wait_status_goes_to_process(d: dict[str, Any]) -> None:
    d["States"]["CheckLease"]["Choices"][-1]["Next"] = "Process"


def a_longer_wait_goes_to_process(d: dict[str, Any]) -> None:
    d["States"]["WaitForLeaseAfter30Minutes"]["Next"] = "Process"


def acquire_error_goes_to_process(d: dict[str, Any]) -> None:
    d["States"]["Acquire"]["Catch"][0]["Next"] = "Process"


def any_status_goes_to_process(d: dict[str, Any]) -> None:
    d["States"]["CheckLease"]["Choices"][0] = {"Variable": "$.lease.status", "IsPresent": True, "Next": "Process"}


def start_at_process(d: dict[str, Any]) -> None:
    d["StartAt"] = "Process"


# (name, edit), for pytest.mark.parametrize(("name", "mutate"), WAYS_AROUND_THE_LEASE).
WAYS_AROUND_THE_LEASE: list[tuple[str, Mutation]] = [
    (edit.__name__, edit)
    for edit in (
        wait_goes_to_process,
        default_goes_to_process,
        wait_status_goes_to_process,
        plain_wait_status_goes_to_process,
        a_longer_wait_goes_to_process,
        acquire_error_goes_to_process,
        any_status_goes_to_process,
        start_at_process,
    )
]
