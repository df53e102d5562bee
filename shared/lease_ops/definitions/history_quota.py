"""How many execution-history events a lease workflow writes, counted from its rendered definition.

A Standard execution has at most 25,000 history events
(https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html); an execution that
reaches the quota with any event other than ExecutionSucceeded fails
(https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html), without going through
the definition's failure path. A waiting execution writes events on every poll, so how long it can
wait is bounded by the events of its wait loop plus those of the rest of its run.

The count is an upper bound. Each state writes the history event types that
https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html lists for its
kind (``STATE_EVENTS``); a Lambda Task (``arn:aws:states:::lambda:invoke``, with or without
``.waitForTaskToken``) is counted with ``TaskSubmitted`` as well, whether or not the request-response
integration writes it, and each retry of a task with ``TaskFailed``, ``TaskScheduled``,
``TaskStarted`` and ``TaskSubmitted``. Time passes only in Wait states and in a handoff task's
wait for its callback: an acquire that takes no time at all polls most often.

How a wait answer is routed is read from the definition: CheckLease's Choice rules are evaluated
with the local runner's implementation of the Amazon States Language (``local_runner.choice``)
for every ``waited`` at which one of their numeric comparisons can change its result.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from lease_ops.definitions.workflow_builder import ACQUIRE, CHECK_LEASE, PROCESS, RELEASE, RELEASE_AFTER_FAILURE
from lease_ops.local_runner.choice import matches

HISTORY_QUOTA = 25_000
SEVEN_DAYS = 7 * 24 * 3600

# https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html
STATE_EVENTS: dict[str, tuple[str, ...]] = {
    "Task": (
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSubmitted",
        "TaskSucceeded",  # or TaskFailed / TaskTimedOut when it is caught
        "TaskStateExited",
    ),
    "Choice": ("ChoiceStateEntered", "ChoiceStateExited"),
    "Wait": ("WaitStateEntered", "WaitStateExited"),
    "Pass": ("PassStateEntered", "PassStateExited"),
    "Succeed": ("SucceedStateEntered", "SucceedStateExited"),
    "Fail": ("FailStateEntered",),
}
RETRY_EVENTS = ("TaskFailed", "TaskScheduled", "TaskStarted", "TaskSubmitted")
EXECUTION_EVENTS = ("ExecutionStarted", "ExecutionSucceeded")  # or ExecutionFailed: one end event either way
WAIT_FOR_TASK_TOKEN = ".waitForTaskToken"


def state_events(state: dict[str, Any]) -> int:
    return len(STATE_EVENTS[state["Type"]])


def retry_budget(state: dict[str, Any]) -> int:
    """The most retries a task can make: each retrier counts its own attempts."""
    return sum(retrier.get("MaxAttempts", 3) for retrier in state.get("Retry", []))


@dataclass(frozen=True)
class WaitLoop:
    """The rounds of a wait for a slot: each round asks once (Acquire) and, unanswered, waits."""

    rounds: int  # asks that found no slot (the one that gets it is not counted)
    events: int
    longest_gap: float  # the most seconds between two asks
    rounds_by_state: dict[str, int] = field(default_factory=dict)  # poll mode: the Wait each round took


@functools.cache
def _routing(check_state_json: str, waited_reported: bool) -> tuple[tuple[int, str], ...]:
    """CheckLease's target for a wait answer, as (from this ``waited`` on, target state), ascending."""
    check_state = json.loads(check_state_json)
    constants: set[int] = set()

    def collect(rule: dict[str, Any]) -> None:
        for key, value in rule.items():
            if key in ("And", "Or"):
                for nested in value:
                    collect(nested)
            elif key == "Not":
                collect(value)
            elif key.startswith("Numeric") and not key.endswith("Path"):
                constants.add(math.floor(value))

    for rule in check_state["Choices"]:
        collect(rule)
    # Whole seconds: between two of these probes no comparison with a constant changes its result.
    probes = sorted({0} | {c + d for c in constants for d in (0, 1) if c + d > 0}) if waited_reported else [0]
    segments: list[tuple[int, str]] = []
    for probe in probes:
        detail: dict[str, Any] = {"status": "wait", "active": 1, "cap": 1}
        if waited_reported:
            detail["waited"] = probe
        target = _choose(check_state, {"lease": {"status": "wait", "detail": detail}})
        if not segments or segments[-1][1] != target:
            segments.append((probe, target))
    return tuple(segments)


def _choose(state: dict[str, Any], data: Any) -> str:
    for rule in state["Choices"]:
        if matches(rule, data, {}):
            return str(rule["Next"])
    return str(state["Default"])


MATH_RANDOM = re.compile(r"States\.MathRandom\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)")


def wait_range(wait: dict[str, Any], acquire: dict[str, Any]) -> tuple[int, int]:
    """The shortest and the longest time ``wait`` can wait: its ``Seconds``, or the start and the end of the
    ``States.MathRandom`` that the Acquire task's ResultSelector draws for its ``SecondsPath``
    (``$.lease.<field>...``, as the poll ladder's rungs do; the end counted as drawn, the longer reading).
    Anything else is refused: the bound must not rest on a wait it cannot see."""
    if "Seconds" in wait:
        return int(wait["Seconds"]), int(wait["Seconds"])
    path = str(wait.get("SecondsPath", ""))
    prefix = f"{acquire.get('ResultPath')}."
    selector: Any = acquire.get("ResultSelector", {})
    if not path.startswith(prefix) or not isinstance(selector, dict):
        raise ValueError(f"a Wait's SecondsPath {path!r} is not drawn by the {ACQUIRE} task's ResultSelector")
    *parents, leaf = path.removeprefix(prefix).split(".")
    for name in parents:
        selector = selector.get(name) if isinstance(selector, dict) else None
    drawn = MATH_RANDOM.fullmatch(str(selector.get(f"{leaf}.$", ""))) if isinstance(selector, dict) else None
    if drawn is None:
        raise ValueError(f"a Wait's SecondsPath {path!r} is not a States.MathRandom of the {ACQUIRE} task")
    return int(drawn.group(1)), int(drawn.group(2))


def wait_loop(definition: dict[str, Any], wait_for: float, *, waited_reported: bool = True) -> WaitLoop:
    """The rounds and events of waiting ``wait_for`` seconds for a slot, in either wait mode.

    ``waited_reported`` False: the acquire answers carry no ``waited`` (a definition that does not
    pass ``waiting_since``).
    """
    states = definition["States"]
    acquire = states[ACQUIRE]
    if acquire["Resource"].endswith(WAIT_FOR_TASK_TOKEN):
        return _recheck_loop(acquire, wait_for)
    check = states[acquire["Next"]]
    if acquire["Next"] != CHECK_LEASE or check["Type"] != "Choice":
        raise ValueError(f"{ACQUIRE} must go to the Choice {CHECK_LEASE}")
    routing = _routing(json.dumps(check, sort_keys=True), waited_reported)
    clock = 0.0
    rounds = events = 0
    longest = 0.0
    by_state: dict[str, int] = {}
    index = 0
    while clock < wait_for:
        while index + 1 < len(routing) and math.floor(clock) >= routing[index + 1][0]:
            index += 1
        target = routing[index][1]
        wait = states[target]
        if wait["Type"] != "Wait" or wait.get("Next") != ACQUIRE:
            raise ValueError(f"a wait answer goes to {target!r}, not to a Wait back to {ACQUIRE}")
        seconds, longest_seconds = wait_range(wait, acquire)  # the shortest: the most polls and events
        if seconds <= 0:
            raise ValueError(f"{target} waits {seconds} s: the loop would never end")
        # Every round that starts before this target's segment ends (or the slot comes) goes the same way.
        until = min(routing[index + 1][0] if index + 1 < len(routing) else math.inf, wait_for)
        same = max(1, math.ceil((until - clock) / seconds))
        rounds += same
        by_state[target] = by_state.get(target, 0) + same
        events += same * (state_events(acquire) + state_events(check) + state_events(wait))
        longest = max(longest, longest_seconds)
        clock += same * seconds
    return WaitLoop(rounds, events, longest, by_state)


def _recheck_loop(acquire: dict[str, Any], wait_for: float) -> WaitLoop:
    """Handoff: the task times out every ``TimeoutSeconds`` without a callback and is caught back to Acquire."""
    timeout = acquire.get("TimeoutSeconds")
    back = [c for c in acquire.get("Catch", []) if "States.Timeout" in c["ErrorEquals"] and c["Next"] == ACQUIRE]
    if timeout is None or not back:
        raise ValueError(f"a {WAIT_FOR_TASK_TOKEN} {ACQUIRE} needs TimeoutSeconds caught back into {ACQUIRE}")
    rounds = math.floor(wait_for / timeout)
    return WaitLoop(rounds, rounds * state_events(acquire), float(timeout))


@dataclass(frozen=True)
class ExecutionHistory:
    events: int
    wait: WaitLoop
    path: tuple[str, ...]  # the states of the run but its wait rounds, in order (chunk loops included)


def execution_history(
    definition: dict[str, Any],
    wait_for: float,
    *,
    chunks: int = 1,
    process_times_out: bool = False,
    retried: Collection[str] = (RELEASE, RELEASE_AFTER_FAILURE),
    waited_reported: bool = True,
) -> ExecutionHistory:
    """Every event of an execution that waits ``wait_for`` seconds, then runs Process ``chunks`` times.

    It ends through Release and Complete, or, with ``process_times_out``, through the last Process
    timing out into the failure path. The tasks named in ``retried`` use up their whole retry
    budget; the others succeed at once (see ``retries_left`` for what the rest of the quota allows).
    """
    states = definition["States"]
    wait = wait_loop(definition, wait_for, waited_reported=waited_reported)
    events = len(EXECUTION_EVENTS) + wait.events
    path: list[str] = []
    processed = 0
    chosen: dict[tuple[str, bool], str] = {}
    name: str | None = definition["StartAt"]
    while name is not None:
        state = states[name]
        path.append(name)
        if len(path) > 10 * HISTORY_QUOTA:
            raise ValueError(f"the run after the wait does not end: {path[-5:]}")
        events += state_events(state)
        kind = state["Type"]
        if kind == "Task" and name in retried:
            events += retry_budget(state) * len(RETRY_EVENTS)
        if name == PROCESS:
            processed += 1
            if process_times_out and processed == chunks:
                name = next(c["Next"] for c in state["Catch"] if "States.Timeout" in c["ErrorEquals"])
                continue
        if kind == "Choice":
            done = processed >= chunks
            if (name, done) not in chosen:
                acquired = {"status": "acquired", "detail": {"status": "acquired"}}
                chosen[name, done] = _choose(state, {"lease": acquired, "progress": {"done": done}})
            name = chosen[name, done]
        elif kind in ("Succeed", "Fail"):
            name = None
        else:
            name = None if state.get("End") else state["Next"]
    return ExecutionHistory(events, wait, tuple(path))


def retries_left(history: ExecutionHistory) -> int:
    """How many more task retries (anywhere in the run) the quota still has room for."""
    return max(0, (HISTORY_QUOTA - history.events) // len(RETRY_EVENTS))


def longest_wait(
    definition: dict[str, Any], *, chunks: int = 1, horizon: float = 60 * 24 * 3600, **options: Any
) -> float:
    """The longest wait for a slot (seconds, to the poll) after which the whole run still fits the quota.

    ``horizon`` if even that long fits. ``options`` as for ``execution_history``.
    """
    if execution_history(definition, horizon, chunks=chunks, **options).events <= HISTORY_QUOTA:
        return horizon
    low, high = 0.0, horizon  # fits at low, not at high
    while high - low > 1:
        middle = math.floor((low + high) / 2)
        if execution_history(definition, middle, chunks=chunks, **options).events <= HISTORY_QUOTA:
            low = middle
        else:
            high = middle
    return low
