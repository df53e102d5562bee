"""The demo's timeline: how a table read is stamped, what the plot draws, and the check that holds the
demo to it (a plot that shows Process steps running without leases fails the demo). No table, no AWS."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from matplotlib.collections import LineCollection
from matplotlib.container import ErrorbarContainer

from lease_core.outcomes import HeldLease, LeaseSnapshot
from lease_ops.demo import monitor as monitor_module
from lease_ops.demo.monitor import DemoMonitor, HolderSample
from lease_ops.demo.timeline_check import RunningSteps, timeline_problems, unleased_steps
from lease_ops.demo.timeline_plot import STEPS_LABEL, timeline_figure
from lease_ops.local_runner import FakeTimer
from lease_ops.sandbox.process_steps import ProcessSample


def steps(prefix: str, *changes: tuple[float, int]) -> list[ProcessSample]:
    """Process steps running: (time, count from then on)."""
    return [ProcessSample(time, prefix, running) for time, running in changes]


def read(prefix: str, sent: float, answered: float, holders: int) -> HolderSample:
    return HolderSample(sent, answered, prefix, holders)


# -- the check ---------------------------------------------------------------------------------------------


def test_a_read_over_which_more_steps_run_than_it_found_fails_the_check_naming_the_prefix_and_instant() -> None:
    running = steps("analytics", (1.0, 8), (1.2, 15))
    reads = [read("analytics", 2.0, 2.5, 15), read("analytics", 2.0, 10.0, 8)]

    assert [(f.read, f.running) for f in unleased_steps(reads, running)] == [(reads[1], 15)]
    assert timeline_problems(reads, running, time_scale=4.0) == [
        "analytics: from 0.500 to 2.500 s the timeline draws at least 15 Process steps running while its read of "
        "the table answered 8 holders: work drawn without a lease"
    ]


def test_a_late_answer_is_honest_when_the_steps_were_within_the_holders_as_it_was_sent() -> None:
    # The picture: a read sent at 0.5 s finds 8 holders, steps rise to 15 before its answer at 2.5 s.
    # The read may have taken effect at 0.5 s, when 8 ran: nothing contradicts it.
    running = steps("analytics", (0.4, 8), (0.6, 15))

    assert unleased_steps([read("analytics", 0.5, 2.5, 8)], running) == []
    # Stamped at its answer alone, the same honest read would fail: too strict.
    assert len(unleased_steps([read("analytics", 2.5, 2.5, 8)], running)) == 1


def test_a_step_that_ends_during_the_read_counts_at_its_lowest_and_before_it_ends_it_still_counts() -> None:
    # A step ended and released between the request and the moment the table was read.
    running = steps("batch", (0.0, 3), (1.5, 2))

    assert unleased_steps([read("batch", 1.0, 2.0, 2)], running) == []
    # Stamped at its request alone, that honest read would fail: too strict as well.
    assert len(unleased_steps([read("batch", 1.0, 1.0, 2)], running)) == 1
    # Answered before the step ended, the read cannot have found 2.
    assert len(unleased_steps([read("batch", 1.0, 1.4, 2)], running)) == 1


def test_a_read_includes_both_ends_and_a_change_counts_from_its_instant_on() -> None:
    starts_at_answer = steps("batch", (0.0, 2), (2.0, 3))
    ends_at_request = steps("batch", (0.0, 3), (1.0, 2))
    ends_at_answer = steps("batch", (0.0, 3), (2.0, 2))

    assert unleased_steps([read("batch", 1.0, 2.0, 2)], starts_at_answer) == []
    assert unleased_steps([read("batch", 1.0, 2.0, 2)], ends_at_request) == []
    assert unleased_steps([read("batch", 1.0, 2.0, 2)], ends_at_answer) == []
    assert len(unleased_steps([read("batch", 1.0, 1.999, 2)], ends_at_answer)) == 1


def test_of_two_changes_stamped_at_one_instant_the_later_is_drawn_and_checked() -> None:
    # The plot draws a zero-width dip as nothing: the check does not count it either.
    running = steps("batch", (0.0, 3), (1.5, 2), (1.5, 3))

    assert RunningSteps.of(running).at(1.5) == 3
    assert len(unleased_steps([read("batch", 1.0, 2.0, 2)], running)) == 1


def test_each_prefix_is_checked_against_its_own_steps_and_reported_once_with_how_many_more() -> None:
    running = steps("batch", (0.0, 5)) + steps("analytics", (0.0, 1))
    reads = [read("analytics", 1.0, 1.0, 1), *(read("batch", t, t + 0.0001, 4) for t in (1.0, 2.0, 3.0))]

    problems = timeline_problems(reads, running, time_scale=1.0)

    assert len(problems) == 1
    assert problems[0].startswith("batch: at 1.000 s the timeline draws at least 5 Process steps running")
    assert problems[0].endswith("(and 2 more reads like it)")


def test_holders_read_before_any_step_ran_or_above_the_steps_pass() -> None:
    running = steps("analytics", (5.0, 15), (9.0, 0))
    reads = [read("analytics", 0.0, 0.1, 0), read("analytics", 6.0, 6.1, 15), read("analytics", 9.5, 9.6, 0)]

    assert unleased_steps(reads, running) == []
    assert unleased_steps([read("batch", 6.0, 6.1, 0)], running) == []


# -- the plot draws what the check reads ------------------------------------------------------------------


def test_the_plot_draws_each_read_over_its_request_to_answer_and_the_steps_the_check_reads() -> None:
    running = steps("analytics", (1.0, 2), (3.0, 1), (3.0, 3))
    reads = [read("analytics", 2.0, 2.8, 2), read("analytics", 4.0, 4.4, 3)]

    figure = timeline_figure({"analytics": 15}, reads, running, time_scale=2.0)

    (axis,) = figure.axes
    (bars,) = [c for c in axis.containers if isinstance(c, ErrorbarContainer)]
    (segments,) = [c for c in bars.lines[2] if isinstance(c, LineCollection)]
    drawn = [[float(value) for point in segment for value in point] for segment in segments.get_segments()]
    assert drawn == [pytest.approx([1.0, 2.0, 1.4, 2.0]), pytest.approx([2.0, 3.0, 2.2, 3.0])]
    (line,) = [line for line in axis.lines if line.get_label() == STEPS_LABEL]
    assert line.get_drawstyle() == "steps-post"
    assert (list(line.get_xdata()), list(line.get_ydata())) == ([0.0, 0.5, 1.5], [0, 2, 3])


def test_the_plot_labels_its_count_axis_and_ticks_whole_numbers_only() -> None:
    figure = timeline_figure({"analytics": 15, "batch": 5}, [], [], time_scale=4.0)

    for axis in figure.axes:
        assert axis.get_ylabel()
        ticks = [tick for tick in axis.get_yticks() if axis.get_ylim()[0] <= tick <= axis.get_ylim()[1]]
        assert ticks and all(float(tick).is_integer() for tick in ticks)
    assert [axis.get_title(loc="left") for axis in figure.axes] == ["analytics", "batch"]


# -- the monitor stamps a read with both ends ---------------------------------------------------------------


def test_a_read_answered_late_is_stamped_with_when_it_was_sent_and_when_it_was_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timer = FakeTimer()

    class SlowTable:
        """A semaphore whose read is answered 2 workflow seconds after it was sent."""

        def __init__(self, dynamodb: Any, table: str, prefix: str) -> None:
            self.prefix = prefix

        def inspect(self) -> LeaseSnapshot:
            timer.sleep(2.0)
            holders = {f"holder-{i}": HeldLease(expires_at=0) for i in range(8)}
            return LeaseSnapshot(prefix=self.prefix, cap=15, holders=holders)

    monkeypatch.setattr(monitor_module, "LeaseSemaphore", SlowTable)
    monitor = DemoMonitor({"machine": "analytics"}, dynamodb=None, table="leases", timer=timer, sample_every=0.01)
    monitor.start()
    deadline = time.monotonic() + 5
    while not monitor.holder_samples and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    monitor.stop()

    assert monitor.holder_samples[0] == HolderSample(sent=0.0, answered=2.0, prefix="analytics", holders=8)
