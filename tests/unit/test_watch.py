"""`make watch`'s figures, worked out from successive reads on a fake clock: no table, no AWS."""

from __future__ import annotations

import pytest
from rich.console import Console

from lease_core.item_layout import holder_key
from lease_core.outcomes import HeldLease, LeaseSnapshot
from lease_ops.observability.watch import AdmissionWindow, PrefixTracker, TableRead, Watch
from lease_ops.observability.watch_view import ViewSettings, age, render
from tests.helpers import NOW, REGION

TTL = 600


def snapshot(
    *holders: str, cap: int = 5, waiting: int = 0, expires_at: int = NOW + TTL, lease_seconds: int | None = TTL
) -> LeaseSnapshot:
    leases = {holder_key(holder): HeldLease(expires_at=expires_at) for holder in holders}
    return LeaseSnapshot(prefix="batch", cap=cap, holders=leases, waiting=waiting, lease_seconds=lease_seconds)


def test_admissions_are_counted_over_the_last_minute_only() -> None:
    window = AdmissionWindow(started=NOW)
    window.record(NOW + 10, 3)
    window.record(NOW + 70, 2)

    assert window.count(NOW + 69) == 5
    assert window.count(NOW + 71) == 2  # the three seen at +10 left the window at +70
    assert window.per_second(NOW + 71) == pytest.approx(2 / 60)


def test_until_a_minute_has_passed_the_rate_is_over_the_time_watched() -> None:
    window = AdmissionWindow(started=NOW)
    window.record(NOW + 4, 2)

    assert window.measured_for(NOW + 4) == 4
    assert window.per_second(NOW + 4) == pytest.approx(0.5)
    assert window.measured_for(NOW + 600) == 60


def test_there_is_no_rate_before_a_second_read() -> None:
    assert AdmissionWindow(started=NOW).per_second(NOW) is None


def test_the_holders_of_the_first_read_are_a_baseline_not_admissions() -> None:
    tracker = PrefixTracker("batch", first_read=NOW)

    first = tracker.observe(snapshot("a", "b", "c"), NOW)
    second = tracker.observe(snapshot("a", "b", "c"), NOW + 2)

    assert first.admissions_per_second is None
    assert second.admissions_per_second == 0


def test_each_holder_new_since_the_previous_read_is_one_admission() -> None:
    tracker = PrefixTracker("batch", first_read=NOW)
    tracker.observe(snapshot("a", "b"), NOW)

    row = tracker.observe(snapshot("b", "c", "d"), NOW + 2)  # a left, c and d came

    assert row.admissions_per_second == pytest.approx(1.0)
    assert row.measured_for == 2


def test_a_holder_that_left_and_came_back_is_admitted_again() -> None:
    tracker = PrefixTracker("batch", first_read=NOW)
    tracker.observe(snapshot("a"), NOW)
    tracker.observe(snapshot(), NOW + 2)

    row = tracker.observe(snapshot("a"), NOW + 4)

    assert row.admissions_per_second == pytest.approx(1 / 4)


def test_a_holder_of_the_first_read_is_dated_by_its_expiry_less_the_ttl() -> None:
    tracker = PrefixTracker("batch", first_read=NOW)

    row = tracker.observe(snapshot("a", expires_at=NOW - 125 + TTL), NOW)  # granted (or renewed) 125 s ago

    assert row.oldest_age == 125


def test_the_age_of_a_holder_grows_between_reads_whatever_its_renewals() -> None:
    tracker = PrefixTracker("batch", first_read=NOW)
    tracker.observe(snapshot("a", expires_at=NOW - 125 + TTL), NOW)

    row = tracker.observe(snapshot("a", expires_at=NOW + 30 + TTL), NOW + 30)  # renewed at +30

    assert row.oldest_age == 155


def test_a_holder_that_appears_later_is_dated_no_earlier_than_the_read_that_did_not_see_it() -> None:
    tracker = PrefixTracker("batch", first_read=NOW)
    tracker.observe(snapshot(), NOW)

    # Its expiry says 20 s ago (a clock skewed against the Lambda's), but 2 s ago it was not there.
    row = tracker.observe(snapshot("a", expires_at=NOW - 18 + TTL), NOW + 2)

    assert row.oldest_age == 2


def test_without_a_ttl_in_the_table_a_holder_of_the_first_read_is_at_least_as_old_as_the_watch() -> None:
    tracker = PrefixTracker("batch", first_read=NOW)
    tracker.observe(snapshot("a", lease_seconds=None), NOW)

    row = tracker.observe(snapshot("a", lease_seconds=None), NOW + 7)

    assert (row.oldest_age, row.oldest_age_at_least) == (7, True)


def test_without_a_ttl_a_holder_that_appears_later_is_dated_by_the_read_that_found_it() -> None:
    tracker = PrefixTracker("batch", first_read=NOW)
    tracker.observe(snapshot(lease_seconds=None), NOW)
    tracker.observe(snapshot("a", lease_seconds=None), NOW + 2)

    row = tracker.observe(snapshot("a", lease_seconds=None), NOW + 9)

    assert (row.oldest_age, row.oldest_age_at_least) == (7, False)


def test_a_row_shows_holders_against_the_cap_the_expired_among_them_and_the_queue() -> None:
    tracker = PrefixTracker("batch", first_read=NOW)
    expired = snapshot("a", expires_at=NOW - 1)
    live = snapshot("b", "c")
    both = LeaseSnapshot(
        prefix="batch", cap=3, holders={**expired.holders, **live.holders}, waiting=4, lease_seconds=TTL
    )

    row = tracker.observe(both, NOW)

    assert (row.holders, row.cap, row.expired, row.queued) == (3, 3, 1, 4)
    assert row.oldest_age == TTL + 1


def test_every_prefix_read_has_a_row_and_a_prefix_gone_from_the_table_is_forgotten() -> None:
    watch = Watch()
    other = LeaseSnapshot(prefix="reports", cap=2)
    watch.update(TableRead(NOW, {"batch": snapshot("a"), "reports": other}, {}))

    frame = watch.update(TableRead(NOW + 2, {"reports": other}, {}))
    back = watch.update(TableRead(NOW + 4, {"batch": snapshot("a"), "reports": other}, {}))

    assert [row.prefix for row in frame.rows] == ["reports"]
    assert back.rows[0].admissions_per_second is None  # read anew: a new baseline


def test_an_unreadable_prefix_keeps_its_row_with_the_reason_and_what_was_measured() -> None:
    watch = Watch()
    watch.update(TableRead(NOW, {"batch": snapshot()}, {}))
    watch.update(TableRead(NOW + 2, {"batch": snapshot("a")}, {}))

    frame = watch.update(TableRead(NOW + 4, {}, {"batch": "DynamoDB get_item failed: ThrottlingException"}))

    (row,) = frame.rows
    assert row.problem == "DynamoDB get_item failed: ThrottlingException"
    assert row.admissions_per_second == pytest.approx(1 / 4)


@pytest.mark.parametrize(("seconds", "shown"), [(None, "—"), (0.4, "0s"), (59, "59s"), (125, "2m05s"), (3720, "1h02m")])
def test_ages_are_shown_in_seconds_minutes_or_hours(seconds: float | None, shown: str) -> None:
    assert age(seconds) == shown


def test_a_frame_shows_each_prefix_with_its_figures_and_says_how_they_are_measured() -> None:
    watch = Watch()
    watch.update(TableRead(NOW, {"batch": snapshot("a", expires_at=NOW - 60 + TTL, waiting=2)}, {}))
    frame = watch.update(TableRead(NOW + 2, {"batch": snapshot("a", "b", expires_at=NOW - 60 + TTL, waiting=2)}, {}))
    console = Console(record=True, width=200)

    console.print(render(frame, ViewSettings("leases", REGION, interval=2)))

    text = console.export_text()
    (line,) = [line for line in text.splitlines() if "batch" in line]
    assert [cell.strip() for cell in line.split("│")[1:-1]] == ["batch", "2/5", "2", "1m02s", "0.50/s (over 2.0s)"]
    assert "holders new since the previous refresh (every 2 s), over the last 60 s" in text
    assert "one GetItem per prefix" in text
