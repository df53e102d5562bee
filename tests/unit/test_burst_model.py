"""The burst benchmark's pure parts: simulated time, the Step Functions semantics it reads from the rendered
definitions, DynamoDB's billing rules and the observer's arithmetic."""

from __future__ import annotations

import math
import random

import pytest

from benchmarks.burst.dynamodb_model import Bucket, read_units, write_units
from benchmarks.burst.observer import PrefixObserver, percentile
from benchmarks.burst.scenarios import mix_prefixes
from benchmarks.burst.simulation import InvocationTimedOut, Simulation
from benchmarks.burst.step_functions import RetryCounts, catch_target, render_workflow
from lease_ops.definitions.workflow_builder import ACQUIRE, RELEASE, RELEASE_AFTER_FAILURE, WAIT_FOR_LEASE, WAIT_LADDER


def test_events_run_in_time_order_and_workers_pause_in_simulated_time() -> None:
    simulation = Simulation()
    seen: list[tuple[str, float]] = []

    def worker() -> str:
        seen.append(("worker starts", simulation.now))
        simulation.sleep(2.0)
        seen.append(("worker wakes", simulation.now))
        return "done"

    simulation.at(1.0, lambda: simulation.spawn(worker, lambda result, error: seen.append((result, simulation.now))))
    simulation.at(2.5, lambda: seen.append(("event", simulation.now)))
    simulation.at(0.5, lambda: seen.append(("first", simulation.now)))
    simulation.run()
    simulation.close()

    assert seen == [("first", 0.5), ("worker starts", 1.0), ("event", 2.5), ("worker wakes", 3.0), ("done", 3.0)]


def test_a_worker_past_its_deadline_stops_at_the_deadline_not_at_the_end_of_its_pause() -> None:
    simulation = Simulation()
    outcome: list[object] = []

    def slow() -> None:
        simulation.sleep(10.0)

    simulation.at(
        0.0, lambda: simulation.spawn(slow, lambda _, error: outcome.append((error, simulation.now)), deadline=3.0)
    )
    simulation.run()
    simulation.close()

    ((error, when),) = outcome
    assert isinstance(error, InvocationTimedOut)
    assert when == 3.0


def test_closing_a_run_cut_short_unwinds_an_invocation_paused_in_it_without_running_the_rest() -> None:
    simulation = Simulation()
    reached: list[str] = []

    def long() -> None:
        simulation.sleep(100.0)
        reached.append("after the pause")

    simulation.at(0.0, lambda: simulation.spawn(long, lambda _, error: reached.append("ended")))
    simulation.run(until=1.0)
    (worker,) = simulation.workers
    simulation.close()

    assert reached == []
    assert not worker.thread.is_alive()


def test_a_pause_outside_the_function_pushes_its_deadline_back() -> None:
    simulation = Simulation()
    outcome: list[object] = []

    def retried_by_the_state_machine() -> str:
        simulation.sleep(8.0, outside_the_function=True)
        simulation.sleep(2.0)
        return "finished"

    simulation.at(
        0.0, lambda: simulation.spawn(retried_by_the_state_machine, lambda r, e: outcome.append(r), deadline=3.0)
    )
    simulation.run()
    simulation.close()

    assert outcome == ["finished"]


def test_the_acquire_retry_waits_as_the_rendered_retrier_says_full_jitter_under_a_doubling_capped_interval() -> None:
    workflow = render_workflow("poll")
    acquire = workflow.state(ACQUIRE)
    retrier = next(r for r in acquire["Retry"] if "LeaseStoreUnavailable" in r["ErrorEquals"])
    counts = RetryCounts()
    rng = random.Random(3)
    delays = [counts.next_delay(acquire, "LeaseStoreUnavailable", rng) for _ in range(retrier["MaxAttempts"] + 1)]

    ceilings = [
        min(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** n, retrier["MaxDelaySeconds"]) for n in range(6)
    ]
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=False))
    assert delays[-1] is None  # MaxAttempts retries, then Catch
    assert catch_target(acquire, "LeaseStoreUnavailable") == RELEASE_AFTER_FAILURE
    assert RetryCounts().next_delay(acquire, "LeaseLost", rng) is None  # never retried


def test_a_release_rides_out_more_retries_than_an_acquire() -> None:
    workflow = render_workflow("poll")
    counts = {}
    for name in (ACQUIRE, RELEASE):
        retries = RetryCounts()
        made = 0
        while retries.next_delay(workflow.state(name), "LeaseStoreUnavailable", random.Random(1)) is not None:
            made += 1
        counts[name] = made
    assert counts[RELEASE] > counts[ACQUIRE]


@pytest.mark.parametrize(
    ("waited", "expected_seconds"),
    [(None, 5), (0, 5), (299, 5), *((rung.after_seconds, max(rung.seconds, 5)) for rung in WAIT_LADDER)],
)
def test_check_lease_sends_a_waiting_execution_to_the_wait_of_the_ladder_for_how_long_it_has_waited(
    waited: int | None, expected_seconds: int
) -> None:
    workflow = render_workflow("poll")
    detail = {"status": "wait", "active": 10, "cap": 10} | ({} if waited is None else {"waited": waited})
    state = workflow.next_after_check({"status": "wait", "detail": detail})

    assert state == WAIT_FOR_LEASE or state in {rung.state for rung in WAIT_LADDER}
    shortest, longest = workflow.wait_range(state)
    assert shortest == expected_seconds
    assert longest == (expected_seconds if state == WAIT_FOR_LEASE else expected_seconds + expected_seconds // 2)


def test_handoff_acquire_re_checks_after_its_timeout_and_polls_never() -> None:
    workflow = render_workflow("handoff")

    assert workflow.recheck_seconds == 300
    assert catch_target(workflow.state(ACQUIRE), "States.Timeout") == ACQUIRE
    assert WAIT_FOR_LEASE not in workflow.states
    assert workflow.next_after_check({"status": "acquired", "detail": {"status": "acquired"}}) == "Process"


def test_writes_are_billed_by_the_larger_item_in_kilobytes_and_reads_by_four_kilobytes() -> None:
    assert write_units(0, 100) == 1  # at least one
    assert write_units(3000, 1025) == 3
    assert write_units(1025, 0) == 2  # a delete by the item it removed
    assert read_units(0, consistent=True) == 1.0
    assert read_units(4097, consistent=True) == 2.0
    assert read_units(4097, consistent=False) == 1.0


def test_a_bucket_refills_at_its_rate_up_to_one_second_of_it() -> None:
    bucket = Bucket(rate=1000.0, tokens=0.0, last=0.0)

    assert bucket.refill(0.25) == pytest.approx(250.0)
    assert bucket.refill(10.0) == 1000.0


def test_the_observer_integrates_idle_slots_only_while_executions_wait_once_the_cap_is_reached() -> None:
    simulation = Simulation()
    observer = PrefixObserver(simulation, "lease-core", "poll", "p", cap=2, executions=3, lost_wakeup_bound=5.0)
    for _ in range(3):
        observer.arrived(10.0)
    observer.admitted(0.0)
    observer.admitted(0.0)  # the cap is reached at t=0, one execution waits
    simulation.now = 10.0
    observer.process_ended()  # one slot idle from 10 s...
    simulation.now = 12.0
    observer.admitted(0.0)  # ...to 12 s
    simulation.now = 20.0
    observer.process_ended()
    observer.process_ended()
    observer.finish()
    result = observer.result()

    assert result["idle_slot_seconds_per_admission"] == pytest.approx(2.0)
    assert result["throughput_of_bound"] == pytest.approx(1 - 2 / (2 * 12))  # one idle slot for 2 of the 12 s waited
    assert result["bound_admissions_per_second"] == pytest.approx(2 / 10)
    assert result["admissions_per_second"] == pytest.approx((1 - 2 / 24) * 2 / 10)
    assert result["raw_admissions_per_second"] == pytest.approx(1 / 12)  # one admission in the 12 s after the cap
    assert result["p50_arrival_to_admission"] == 0.0 and result["max_arrival_to_admission"] == 12.0


def test_the_cap_counts_as_reached_when_an_acquire_answers_wait_even_before_process_steps_fill_it() -> None:
    simulation = Simulation()
    observer = PrefixObserver(simulation, "lease-core", "poll", "p", cap=2, executions=2, lost_wakeup_bound=5.0)
    observer.arrived(10.0)
    observer.arrived(10.0)
    simulation.now = 1.0
    observer.told_to_wait()  # both slots held, neither Process started yet
    simulation.now = 3.0
    observer.admitted(0.0)
    observer.finish()

    assert observer.steady_from == 1.0
    assert observer.result()["idle_slot_seconds"] == pytest.approx(2 * 2.0)  # two idle slots from 1 s to 3 s


def test_a_free_slot_while_someone_is_queued_for_longer_than_the_bound_is_a_lost_wakeup() -> None:
    simulation = Simulation()
    observer = PrefixObserver(simulation, "lease-core", "handoff", "p", cap=1, executions=2, lost_wakeup_bound=5.0)
    observer.holders_now(0)
    observer.queued_changed(+1)
    simulation.now = 3.0
    observer.holders_now(1)  # filled within the bound
    observer.holders_now(0)
    simulation.now = 9.0
    observer.finish()

    assert observer.result()["lost_wakeups"] == 1
    assert observer.result()["longest_free_slot_while_queued"] == pytest.approx(6.0)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.5) is None


def test_the_regional_mix_splits_its_executions_in_proportion_to_the_caps() -> None:
    prefixes = mix_prefixes(670)

    assert [(p.cap, p.executions) for p in prefixes] == [(5, 5), (15, 15), (50, 50), (100, 100), (500, 500)]
    assert math.isclose(sum(p.executions for p in mix_prefixes(10_000)), 10_000, abs_tol=3)
