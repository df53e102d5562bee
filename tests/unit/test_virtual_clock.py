"""The chaos suite's discrete-event clock: workflow time moves only when every participant waits on it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lease_ops.local_runner import LocalRunner, TaskContext
from lease_ops.local_runner.timing import VirtualClock
from tests.helpers import arn


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    virtual = VirtualClock(epoch=1_000_000.0)
    yield virtual
    virtual.close()


def test_time_stands_still_while_a_participant_works_however_long_it_takes(clock: VirtualClock) -> None:
    woke_at: list[float] = []
    with clock.participating():  # both start before time may move, as the chaos suite starts its executions
        clock.start_thread(lambda: (clock.sleep(10), woke_at.append(clock.now())), "sleeper")
        worker = clock.start_thread(lambda: time.sleep(0.3), "worker")  # a slow emulator call, say

    time.sleep(0.15)
    assert clock.now() == 0.0 and woke_at == []
    worker.join()
    deadline = time.monotonic() + 5
    while not woke_at and time.monotonic() < deadline:
        time.sleep(0.01)

    assert woke_at == [10.0]


def test_when_every_participant_waits_time_jumps_to_the_earliest_deadline_at_once(clock: VirtualClock) -> None:
    woken: list[tuple[str, float]] = []
    lock = threading.Lock()

    def sleeper(name: str, seconds: float) -> None:
        clock.sleep(seconds)
        with lock:
            woken.append((name, clock.now()))

    started = time.monotonic()
    with clock.participating():
        threads = [clock.start_thread(lambda n=n, s=s: sleeper(n, s), n) for n, s in (("long", 3600), ("short", 60))]
    for thread in threads:
        thread.join(5)

    assert woken == [("short", 60.0), ("long", 3600.0)]
    assert time.monotonic() - started < 2  # an hour of workflow time, no hour of waiting
    assert clock.time() == 1_000_000.0 + 3600 and clock.utc_now().timestamp() == clock.time()


def test_a_waiter_whose_event_is_set_by_another_participant_wakes_without_time_moving(clock: VirtualClock) -> None:
    event = threading.Event()
    answer: list[Any] = []
    with clock.participating():
        clock.start_thread(lambda: answer.append((clock.wait(event, 100), clock.now())), "waiter")
        setter = clock.start_thread(lambda: (time.sleep(0.1), event.set(), time.sleep(0.1)), "setter")
    setter.join()
    deadline = time.monotonic() + 5
    while not answer and time.monotonic() < deadline:
        time.sleep(0.01)

    assert answer == [(True, 0.0)]


def test_waiting_for_no_time_still_lets_time_move_on_so_that_a_deadline_loop_ends(clock: VirtualClock) -> None:
    event = threading.Event()
    finished = threading.Event()

    def loop_until_past(deadline: float) -> None:
        while not clock.monotonic() > deadline:
            clock.wait(event, max(deadline - clock.monotonic(), 0.0))
        finished.set()

    clock.start_thread(lambda: loop_until_past(5.0), "loop")

    assert finished.wait(5)
    assert 5.0 < clock.now() < 5.001


def test_a_thread_that_is_not_a_participant_is_not_waited_for(clock: VirtualClock) -> None:
    clock.sleep(30)  # from the test's own thread, nobody else: time moves at once

    assert clock.now() == 30.0


class SlowInvoker:
    """A task that takes real time (waiting on a busy emulator), and one that takes workflow time."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock

    def invoke(self, function: str, payload: Any, context: TaskContext) -> Any:
        if function == "queued":
            time.sleep(0.5)  # half a second of the wall clock: no workflow time at all
        else:
            self.clock.sleep(payload["seconds"])
        return {"ok": True}


def definition(function: str, **payload: Any) -> dict[str, Any]:
    return {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function, "Payload": payload},
                "TimeoutSeconds": 1,
                "End": True,
            }
        },
    }


MACHINE = arn("states", "stateMachine:clocked")


def test_a_task_that_waits_on_the_wall_clock_does_not_time_out_on_the_virtual_one(clock: VirtualClock) -> None:
    runner = LocalRunner(SlowInvoker(clock), timer=clock)

    with clock.participating():
        result = runner.start(MACHINE, definition("queued"), {}).wait(10)

    assert result.status == "SUCCEEDED"


def test_a_task_that_sleeps_past_its_timeout_on_the_virtual_clock_times_out_at_its_deadline(
    clock: VirtualClock,
) -> None:
    runner = LocalRunner(SlowInvoker(clock), timer=clock)

    result = runner.start(MACHINE, definition("working", seconds=30), {}).wait(10)

    assert (result.status, result.error) == ("FAILED", "States.Timeout")
    failed = result.of_type("ExecutionFailed")[0]
    assert 1.0 < failed.time < 1.001


def test_a_scenario_puts_the_lease_core_and_the_sdk_on_its_clock_and_gives_them_back(clock: VirtualClock) -> None:
    import botocore.endpoint

    from lease_core import LeaseSemaphore, aws_clients
    from lease_ops.chaos.world_clock import world_on

    config = aws_clients.CLIENT_CONFIG
    with world_on(clock):
        assert LeaseSemaphore.__init__.__kwdefaults__["clock"] == clock.time
        assert aws_clients.CLIENT_CONFIG.read_timeout > config.read_timeout  # the emulator's queue is no timeout
        botocore.endpoint.time.sleep(45)  # a retry's backoff: workflow time, not wall-clock time
        assert clock.now() == 45.0

    assert LeaseSemaphore.__init__.__kwdefaults__["clock"] is time.time
    assert botocore.endpoint.time is time and aws_clients.CLIENT_CONFIG is config
