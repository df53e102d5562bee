"""`make watch` on the embedded platform: every prefix of the table, in both item layouts, with its queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from lease_core import LeaseSemaphore
from lease_core.lease_operations import acquire_or_queue
from lease_ops.aws.table import DEFAULT_TABLE_NAME
from lease_ops.config.chalice_apps import REPOSITORY_ROOT
from lease_ops.config.platform_config import PLATFORM_FILE, load_platform_config
from lease_ops.observability.watch_view import run_watch
from lease_ops.sandbox.embedded_platform import EmbeddedPlatform, embedded_platform
from tests.helpers import NOW, REGION, TABLE, FakeClock, interruptible, layout_is_wide, lease_table_client, wide_above
from tests.ops import run_ops

ANALYTICS_TTL, BATCH_TTL = 600, 1200  # their LEASE_TTL_SECONDS, which the deploy writes into the table


@pytest.fixture
def platform() -> Iterator[EmbeddedPlatform]:
    """The platform in handoff mode, analytics (cap 15) in the wide layout and batch (cap 5) in the map."""
    config = load_platform_config().with_wait_mode("handoff")
    with wide_above(10), embedded_platform(config, Console(quiet=True)) as embedded:
        yield embedded


def rows(text: str) -> dict[str, list[str]]:
    """The cells of each prefix's row, by prefix."""
    found = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 5 and cells[0] != "prefix":
            found[cells[0]] = cells[1:]
    return found


def test_the_view_shows_holders_queue_oldest_age_and_admissions_of_every_prefix_in_both_layouts(
    platform: EmbeddedPlatform,
) -> None:
    dynamodb = platform.target.client("dynamodb")
    table = platform.config.table
    clock = FakeClock(NOW - 125)
    analytics = LeaseSemaphore(dynamodb, table, "analytics", ttl_seconds=ANALYTICS_TTL, clock=clock)
    batch = LeaseSemaphore(dynamodb, table, "batch", ttl_seconds=BATCH_TTL, clock=clock)
    analytics.acquire("analytics-0")  # 125 s before the watch starts
    clock.now = NOW
    for n in range(1, 3):
        analytics.acquire(f"analytics-{n}")
    for n in range(5):
        batch.acquire(f"batch-{n}")
    for waiter in ("batch-5", "batch-6"):  # batch is full: they queue, as the handoff acquire Lambda does
        acquire_or_queue(batch, None, waiter, f"token-of-{waiter}")
    # A prefix platform.toml does not know, with no TTL written by a deploy.
    LeaseSemaphore(dynamodb, table, "reports", initial_cap=3, clock=clock).acquire("reports-0")

    def between_the_two_reads(seconds: float) -> None:
        clock.now += seconds
        analytics.acquire("analytics-3")
        analytics.acquire("analytics-4")
        assert batch.release("batch-0").handed_to is not None  # batch-5 is handed the slot: admitted

    console = Console(record=True, width=200)
    run_watch(
        platform.target, platform.config, console, interval=2, once=True, clock=clock, sleep=between_the_two_reads
    )

    assert layout_is_wide(dynamodb, "analytics", table) and not layout_is_wide(dynamodb, "batch", table)
    assert rows(console.export_text()) == {
        "analytics": ["5/15", "0", "2m07s", "1.00/s (over 2.0s)"],
        "batch": ["5/5", "1", "2s", "0.50/s (over 2.0s)"],
        "reports": ["1/3", "0", "≥2s", "0.00/s (over 2.0s)"],
    }


def test_watch_once_prints_one_frame_of_the_table_from_the_command_line(
    platform: EmbeddedPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    dynamodb = platform.target.client("dynamodb")
    batch = LeaseSemaphore(dynamodb, platform.config.table, "batch", ttl_seconds=BATCH_TTL)
    for n in range(5):
        batch.acquire(f"batch-{n}")
    acquire_or_queue(batch, None, "batch-5", "token")

    outcome = run_ops(capsys, PLATFORM_FILE, "watch", "--once", "--interval", "0.1")

    assert outcome.exit_code == 0, outcome.err
    shown = rows(outcome.out)
    assert shown["analytics"][:3] == ["0/15", "0", "—"]
    assert shown["batch"][:2] == ["5/5", "1"] and shown["batch"][3].startswith("0.00/s (over 0.")
    assert f"leases in {TABLE} ({REGION})" in outcome.out


def test_watch_of_a_table_that_does_not_exist_is_one_line_and_exit_2(
    moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_ops(capsys, PLATFORM_FILE, "watch", "--once", "--table", "no-such-table")

    assert outcome.exit_code == 2
    assert outcome.err == (
        f"error: table 'no-such-table' does not exist in {REGION}: `make bootstrap` creates it "
        "(or pass TABLE=/REGION=)\n"
    )


@pytest.mark.slow
def test_ctrl_c_ends_the_watch_with_exit_0_and_no_traceback(moto_endpoint: str) -> None:
    dynamodb: Any = lease_table_client()
    LeaseSemaphore(dynamodb, DEFAULT_TABLE_NAME, "batch", initial_cap=5).acquire("batch-0")
    watch = subprocess.Popen(
        [sys.executable, "-m", "lease_ops", "watch", "--interval", "0.2"],
        cwd=REPOSITORY_ROOT,
        preexec_fn=interruptible,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stdout is not None
        deadline = time.monotonic() + 60
        frames = 0
        while frames < 2 and time.monotonic() < deadline:  # redrawn at least once
            line = watch.stdout.readline()
            if not line:
                break
            frames += f"leases in {TABLE}" in line
    finally:
        watch.send_signal(signal.SIGINT)
        _, err = watch.communicate(timeout=30)

    assert frames == 2, err
    assert watch.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
