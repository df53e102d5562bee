"""A 7-day wait for a slot fits in the execution history quota, counted from the rendered definitions.

A Standard execution has at most 25,000 history events
(https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html). Each state is counted
with the event types https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html
lists for it (a Lambda Task of ``arn:aws:states:::lambda:invoke``: TaskStateEntered, TaskScheduled,
TaskStarted, TaskSubmitted, TaskSucceeded, TaskStateExited; a Choice and a Wait: entered and exited),
see ``lease_ops.definitions.history_quota``.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import itertools
import math
import random
from typing import Any

import pytest

from lease_core.semaphore import MustWait
from lease_core.wait_time import parse_waiting_since, seconds_waited
from lease_ops.config.platform_config import PlatformConfig, WorkloadConfig, load_platform_config
from lease_ops.definitions.history_quota import (
    HISTORY_QUOTA,
    SEVEN_DAYS,
    STATE_EVENTS,
    execution_history,
    longest_wait,
    retries_left,
    wait_loop,
)
from lease_ops.definitions.workflow_builder import ACQUIRE, NEXT_POLL, POLL_WAIT_STATES
from lease_ops.local_runner import FakeTimer, LocalRunner, TaskContext
from lease_ops.provisioning.workflows import render_definition
from tests.helpers import LEASE_FUNCTIONS, arn, load_module

# What the test asks for beyond fitting: a fifth of the quota left over, room for 1,250 retries of 4 events.
MOST_EVENTS = 20_000
# The most items the batch process takes (its own check); with platform.toml's chunk_size, the most chunks.
MAX_BATCH_ITEMS = load_module("batch_app/chalicelib/transformation.py").MAX_ITEMS
# platform.toml's allowed ranges (lease_ops.config.platform_config).
WAIT_SECONDS_ALLOWED = range(1, 3601)
DAY = 86_400


@functools.cache
def platform() -> PlatformConfig:
    return load_platform_config()


def workload(name: str, **changes: Any) -> WorkloadConfig:
    return dataclasses.replace(platform().workload(name), **changes)


def rendered(config_workload: WorkloadConfig) -> dict[str, Any]:
    """The definition exactly as `make workflows` renders it."""
    return render_definition(platform(), config_workload, LEASE_FUNCTIONS, "aws")


def most_chunks(config_workload: WorkloadConfig) -> int:
    return math.ceil(MAX_BATCH_ITEMS / config_workload.chunk_size) if config_workload.chunked else 1


def worst_run(definition: dict[str, Any], wait_for: float, chunks: int) -> int:
    """The events of the longer of the two endings: Release and Complete, or Process timing out."""
    return max(
        execution_history(definition, wait_for, chunks=chunks, process_times_out=timed_out).events
        for timed_out in (False, True)
    )


@pytest.mark.parametrize("name", ["analytics", "batch"])
def test_a_poll_mode_execution_waits_seven_days_for_a_slot_and_still_fits_the_history_quota(name: str) -> None:
    configured = workload(name)
    definition = rendered(configured)
    chunks = most_chunks(configured)

    history = execution_history(definition, SEVEN_DAYS, chunks=chunks)
    events = worst_run(definition, SEVEN_DAYS, chunks)

    assert configured.wait_mode == "poll" and history.wait.rounds > 1_000
    assert events <= MOST_EVENTS < HISTORY_QUOTA
    assert retries_left(history) >= 1_250
    # The run after the wait is counted whole: every chunk's Process, MoreChunks and Renew, then Release.
    assert history.path.count("Process") == chunks and history.path[-2:] == ("Release", "Complete")
    assert history.path.count("Renew") == chunks - 1


@pytest.mark.parametrize("name", ["analytics", "batch"])
def test_every_wait_seconds_platform_toml_allows_keeps_a_seven_day_wait_in_the_quota(name: str) -> None:
    configured = workload(name)
    reference = rendered(configured)
    rest = worst_run(reference, 0, most_chunks(configured)) - wait_loop(reference, 0).events

    def without_waits(definition: dict[str, Any]) -> dict[str, Any]:
        states = copy.deepcopy(definition["States"])
        del states[ACQUIRE]["ResultSelector"][NEXT_POLL]  # the draws of the rungs' waits
        return {key: value for key, value in states.items() if key not in POLL_WAIT_STATES}

    for wait_seconds in WAIT_SECONDS_ALLOWED:
        definition = rendered(dataclasses.replace(configured, wait_seconds=wait_seconds))
        loop = wait_loop(definition, SEVEN_DAYS)

        # Only the Wait states depend on wait_seconds, so the rest of the run counts the same.
        assert without_waits(definition) == without_waits(reference), wait_seconds
        assert loop.events + rest <= MOST_EVENTS, wait_seconds
        gap = max(600, wait_seconds)
        assert loop.longest_gap == gap + gap // 2, wait_seconds


@pytest.mark.parametrize(
    ("wait_seconds", "polls", "by_state"),
    [
        (1, 1_439, {"WaitForLease": 300, "WaitForLeaseAfter5Minutes": 50, "WaitForLeaseAfter30Minutes": 105}),
        (5, 1_199, {"WaitForLease": 60, "WaitForLeaseAfter5Minutes": 50, "WaitForLeaseAfter30Minutes": 105}),
        (10, 1_169, {"WaitForLease": 30, "WaitForLeaseAfter5Minutes": 50, "WaitForLeaseAfter30Minutes": 105}),
    ],
)
def test_a_seven_day_wait_polls_as_often_as_the_ladder_docstring_says(
    wait_seconds: int, polls: int, by_state: dict[str, int]
) -> None:
    loop = wait_loop(rendered(workload("analytics", wait_seconds=wait_seconds)), SEVEN_DAYS)

    assert (loop.rounds, loop.events) == (polls, 10 * polls)
    assert loop.rounds_by_state == {**by_state, "WaitForLeaseAfter4Hours": 984}


def test_polling_every_wait_seconds_as_before_the_ladder_would_fail_within_four_hours() -> None:
    # The answer without "waited" (a definition that does not pass waiting_since) keeps the old loop.
    definition = rendered(workload("analytics"))

    assert wait_loop(definition, SEVEN_DAYS, waited_reported=False).events > 40 * HISTORY_QUOTA
    assert longest_wait(definition, waited_reported=False) < 4 * 3600


@pytest.mark.parametrize("name", ["analytics", "batch"])
def test_a_wait_under_five_minutes_polls_exactly_as_often_as_before(name: str) -> None:
    definition = rendered(workload(name))

    for wait_for in range(0, 301):
        ladder = wait_loop(definition, wait_for)
        assert ladder == wait_loop(definition, wait_for, waited_reported=False), wait_for
        assert set(ladder.rounds_by_state) <= {"WaitForLease"}, wait_for


@pytest.mark.parametrize(
    ("name", "wait_seconds", "days"),
    [("analytics", None, 15.9), ("batch", None, 14.2), ("batch", 1, 12.3)],
)
def test_the_longest_wait_before_the_quota_is_what_the_ladder_docstring_says(
    name: str, wait_seconds: int | None, days: float
) -> None:
    configured = workload(name) if wait_seconds is None else workload(name, wait_seconds=wait_seconds)
    definition = rendered(configured)

    longest = min(
        longest_wait(definition, chunks=most_chunks(configured), process_times_out=timed_out)
        for timed_out in (False, True)
    )

    assert days * DAY <= longest < (days + 0.1) * DAY


@pytest.mark.parametrize("name", ["analytics", "batch"])
def test_a_handoff_waiter_rechecking_every_five_minutes_fits_a_seven_day_wait(name: str) -> None:
    configured = workload(name, wait_mode="handoff")
    definition = rendered(configured)

    history = execution_history(definition, SEVEN_DAYS, chunks=most_chunks(configured))

    assert configured.recheck_seconds == 300 and history.wait.rounds == SEVEN_DAYS // 300
    assert history.wait.events == 6 * history.wait.rounds  # one Acquire task per re-check, timed out
    assert worst_run(definition, SEVEN_DAYS, most_chunks(configured)) <= MOST_EVENTS


def test_a_handoff_waiter_rechecking_every_three_minutes_or_more_fits_a_seven_day_wait() -> None:
    # Rechecks can only get fewer as recheck_seconds grows, and the rest of the run does not depend on it.
    # (platform.toml allows 1-86400: below 164 s a 5,000-item batch would not fit a 7-day wait.)
    configured = workload("batch", wait_mode="handoff", recheck_seconds=3 * 60)
    definition = rendered(configured)

    assert worst_run(definition, SEVEN_DAYS, most_chunks(configured)) <= HISTORY_QUOTA


class LadderInvoker:
    """Tasks of the rendered definition: acquire answers as the acquire Lambda does, with no slot for a while.

    The Lambda's clock is the execution's start plus the workflow time passed on the runner's timer,
    so ``waited`` is computed from the ``waiting_since`` the runner passes ($$.Execution.StartTime).
    """

    def __init__(self, timer: FakeTimer, slot_after: float) -> None:
        self.timer = timer
        self.slot_after = slot_after
        self.waiting_since: list[str] = []
        self.asked_at: list[float] = []

    def invoke(self, function: str, payload: Any, context: TaskContext) -> Any:
        name = function.rsplit("-", 1)[-1]
        if name == "acquire":
            self.waiting_since.append(payload["waiting_since"])
            self.asked_at.append(self.timer.now())
            if self.timer.now() < self.slot_after:
                since = parse_waiting_since(payload["waiting_since"])
                return MustWait(5, 5, waited=seconds_waited(since, since + self.timer.now())).as_event()
            return {"status": "acquired", "holder": payload["holder"], "prefix": "p", "expires_at": 1}
        if name == "process":
            return {"cursor": 1, "done": True} if "chunk_size" in payload else {"ok": True}
        return {"status": "released"}


@pytest.mark.parametrize("name", ["analytics", "batch"])
def test_the_local_runner_runs_the_ladder_through_a_seven_day_wait_as_counted(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every rung's drawn wait at its shortest: the run the bound counts, poll for poll. States.MathRandom draws
    # from the execution's own generator (a random.Random the runner seeds), so its randrange is the one to fix.
    draws: list[tuple[int, int]] = []

    def shortest(_rng: random.Random, start: int, end: int) -> int:
        draws.append((start, end))
        return start

    monkeypatch.setattr(random.Random, "randrange", shortest)
    definition = rendered(workload(name))
    timer = FakeTimer()
    invoker = LadderInvoker(timer, SEVEN_DAYS)
    execution_input = {"records": [], "items": [{"id": "1", "text": "x"}]}

    result = LocalRunner(invoker, timer=timer, seed=1).run(
        arn("states", "stateMachine:ladder"), definition, execution_input, name="run-1"
    )

    entered = [event.state for event in result.history if event.type == "StateEntered"]
    counted = execution_history(definition, SEVEN_DAYS, retried=())
    assert result.status == "SUCCEEDED"
    assert draws, "no States.MathRandom went through the patched draw: the shortest waits were not forced"
    assert {state: entered.count(state) for state in POLL_WAIT_STATES} == {
        state: counted.wait.rounds_by_state.get(state, 0) for state in POLL_WAIT_STATES
    }
    # The same run, counted in AWS's history events: what the runner went through is what was counted.
    states = definition["States"]
    assert 2 + sum(len(STATE_EVENTS[states[state]["Type"]]) for state in entered) == counted.events
    # Every acquire passed the execution's start time, one instant, in ISO 8601.
    assert len(set(invoker.waiting_since)) == 1
    assert datetime.datetime.fromisoformat(invoker.waiting_since[0]).utcoffset() == datetime.timedelta(0)


@pytest.mark.parametrize("name", ["analytics", "batch"])
def test_drawn_waits_poll_less_often_than_the_bound_counts_and_spread_each_rung_over_half_its_wait_again(
    name: str,
) -> None:
    definition = rendered(workload(name))
    timer = FakeTimer()
    invoker = LadderInvoker(timer, SEVEN_DAYS)

    result = LocalRunner(invoker, timer=timer, seed=1).run(
        arn("states", "stateMachine:ladder"),
        definition,
        {"records": [], "items": [{"id": "1", "text": "x"}]},
        name="run-1",
    )

    counted = execution_history(definition, SEVEN_DAYS, retried=())
    entered = [event.state for event in result.history if event.type == "StateEntered"]
    assert result.status == "SUCCEEDED"
    for state in POLL_WAIT_STATES:
        assert entered.count(state) <= counted.wait.rounds_by_state.get(state, 0), state
    # The asks of the longest rung are spread: the gaps between them differ, within [600, 900] s.
    gaps = {round(later - earlier) for earlier, later in itertools.pairwise(invoker.asked_at) if later - earlier >= 600}
    assert len(gaps) > 10 and min(gaps) >= 600 and max(gaps) <= 900 + 1


def test_two_runs_with_the_same_seed_draw_the_same_waits() -> None:
    definition = rendered(workload("analytics"))

    def asks(seed: int) -> list[float]:
        timer = FakeTimer()
        invoker = LadderInvoker(timer, slot_after=DAY)
        result = LocalRunner(invoker, timer=timer, seed=seed).run(
            arn("states", "stateMachine:ladder"), definition, {"records": []}, name="run-1"
        )
        assert result.status == "SUCCEEDED"
        return invoker.asked_at

    first = asks(7)

    assert len(first) > 10
    assert asks(7) == first
    assert asks(8) != first  # the seed is what makes them equal, not a draw that is always the same
