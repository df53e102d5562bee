"""The transition graph of a state machine definition, and the property every lease workflow must have.

The property: **no path reaches Process without an acquired lease.** Formally,
once the CheckLease→Process edge (taken only when acquire answered
``acquired``) is removed, Process is unreachable from StartAt. Paths that
reach Process again afterwards (the chunk loop through Renew) start from a
Process that already held the lease, and Renew raises ``LeaseLost`` instead
of continuing without one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any


class UnsafeWorkflow(ValueError):
    """A definition in which the guarded step could run without a lease."""


def transitions(state: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every (kind, target) a state can move to: Next, Default, each Choice and each Catch."""
    if "Next" in state:
        yield "Next", state["Next"]
    if "Default" in state:
        yield "Default", state["Default"]
    for index, choice in enumerate(state.get("Choices", [])):
        yield f"Choices[{index}]", choice["Next"]
    for index, catcher in enumerate(state.get("Catch", [])):
        yield f"Catch[{index}]", catcher["Next"]


def reachable(definition: dict[str, Any], *, without: Collection[tuple[str, str]] = ()) -> set[str]:
    """States reachable from StartAt, ignoring the (from, to) edges in ``without``."""
    states = definition["States"]
    seen: set[str] = set()
    frontier = [definition["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        for _, target in transitions(states[name]):
            if (name, target) not in without:
                frontier.append(target)
    return seen


def assert_process_needs_a_lease(
    definition: dict[str, Any], *, process: str = "Process", check: str = "CheckLease"
) -> None:
    """Raise ``UnsafeWorkflow`` unless the only way into ``process`` is CheckLease's 'acquired' choice."""
    states = definition["States"]
    if process not in states or check not in states:
        raise UnsafeWorkflow(f"definition needs both a {check!r} and a {process!r} state")
    guarded = [choice for choice in states[check].get("Choices", []) if choice.get("Next") == process]
    if (
        states[check].get("Type") != "Choice"
        or states[check].get("Default") == process
        or guarded != [{"Variable": "$.lease.status", "StringEquals": "acquired", "Next": process}]
    ):
        raise UnsafeWorkflow(f"{check} must reach {process} only when $.lease.status is 'acquired'")
    for name, state in states.items():
        for kind, target in transitions(state):
            if target == process and kind.startswith("Catch"):
                raise UnsafeWorkflow(f"{name}.{kind} leads into {process}: an error must never start the work")
    if process in reachable(definition, without={(check, process)}):
        raise UnsafeWorkflow(f"{process} is reachable without passing {check}'s 'acquired' choice")
