"""`make watch`: the live view of every prefix in the lease table, drawn with rich.

The figures come from ``watch`` (what they mean, and what is measured rather than read) and the reads
from ``watch_source`` (what a refresh costs). On a terminal the table is redrawn in place every
``interval`` seconds; piped into a file or another program, each frame is printed after the last.
``--once`` reads twice, ``interval`` apart, prints that frame and returns, so that even one frame
shows the admissions of that interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lease_core import LeaseStoreUnavailable
from lease_ops.aws.aws_target import AwsTarget
from lease_ops.config.platform_config import PlatformConfig
from lease_ops.errors import AwsCallFailed
from lease_ops.observability.watch import WINDOW_SECONDS, PrefixRow, Watch, WatchFrame
from lease_ops.observability.watch_source import DEFAULT_RESCAN_SECONDS, TableReader, require_table


def age(seconds: float | None) -> str:
    """``45s``, ``2m05s``, ``1h02m``; an em dash for none."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def span(seconds: float) -> str:
    """A measuring span: tenths of a second while short, then as ``age``."""
    return f"{seconds:.1f}s" if seconds < 10 else age(seconds)


def rate(row: PrefixRow, window: float) -> str:
    if row.admissions_per_second is None:
        return "— (from the next refresh)"
    shown = f"{row.admissions_per_second:.2f}/s"
    return shown if row.measured_for >= window else f"{shown} (over {span(row.measured_for)})"


def holders(row: PrefixRow) -> Text:
    if row.cap is None:
        return Text("unreadable", style="red")
    text = Text(f"{row.holders}/{row.cap}", style="bold red" if row.holders >= row.cap else "")
    if row.expired:
        text.append(f" ({row.expired} expired)", style="yellow")
    return text


@dataclass(frozen=True)
class ViewSettings:
    """Where the view reads and how often: shown with every frame, so the figures can be read right."""

    table: str
    region: str
    interval: float
    rescan_seconds: float = DEFAULT_RESCAN_SECONDS
    window: float = WINDOW_SECONDS


def render(frame: WatchFrame, settings: ViewSettings, *, error: str | None = None) -> RenderableType:
    """One frame: a row per prefix, then what the figures mean and what the reads cost."""
    clock = datetime.fromtimestamp(frame.at, UTC).strftime("%H:%M:%S UTC")
    grid = Table(title=f"leases in {settings.table} ({settings.region}) at {clock}", title_justify="left")
    grid.add_column("prefix", style="bold")
    grid.add_column("holders/cap", justify="right")
    grid.add_column("queued", justify="right")
    grid.add_column("oldest holder", justify="right")
    grid.add_column(f"admissions/s (last {settings.window:g} s)", justify="right")
    for row in frame.rows:
        oldest = ("≥" if row.oldest_age_at_least else "") + age(row.oldest_age)
        grid.add_row(escape(row.prefix), holders(row), str(row.queued), oldest, rate(row, settings.window))
    notes = [f"[red]{escape(row.prefix)}: {escape(row.problem)}[/red]" for row in frame.rows if row.problem is not None]
    if not frame.rows:
        notes.append("no prefix in the table yet: a prefix appears when a deploy sets its cap or it is first used")
    if error is not None:
        notes.append(f"[red]the last refresh failed (these figures are older), trying again: {escape(error)}[/red]")
    notes += [
        f"[dim]admissions: holders new since the previous refresh (every {settings.interval:g} s), over the last "
        f"{settings.window:g} s, or since the watch started until it has run that long; a lease that began and "
        "ended between two refreshes is not counted. oldest holder: since its grant or last renewal, or (≥) since "
        "it was first seen. queued: handoff-mode waiters (poll-mode executions wait in Step Functions).[/dim]",
        "[dim]reads per refresh: one GetItem per prefix (+ a Query of a wide prefix's holders); a Scan for new "
        f"prefixes every {settings.rescan_seconds:g} s. Ctrl-C stops.[/dim]",
    ]
    return Group(grid, *notes)


class Watcher:
    """Reads, feeds the model and draws; keeps the last good frame to show under a failed refresh."""

    def __init__(self, reader: TableReader, settings: ViewSettings) -> None:
        self.reader = reader
        self.settings = settings
        self.model = Watch(settings.window)
        self.last: WatchFrame | None = None

    def frame(self) -> WatchFrame:
        """The next frame; ``LeaseStoreUnavailable`` if the table could not be read (its Scan)."""
        self.last = self.model.update(self.reader.read())
        return self.last

    def draw(self) -> RenderableType:
        """The next frame drawn, or, if the read failed (throttled, the network), the last one and why."""
        try:
            return render(self.frame(), self.settings)
        except LeaseStoreUnavailable as exc:
            if self.last is None:
                return Text(f"reading the lease table failed, trying again: {exc}", style="red")
            return render(self.last, self.settings, error=str(exc))


def run_watch(
    target: AwsTarget,
    config: PlatformConfig,
    console: Console,
    *,
    interval: float,
    once: bool,
    rescan_seconds: float = DEFAULT_RESCAN_SECONDS,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Show the view until interrupted (KeyboardInterrupt reaches the caller), or one frame with ``once``.

    ``clock`` and ``sleep`` are the seams a test moves time (and the table) through.
    """
    dynamodb = target.client("dynamodb")
    require_table(dynamodb, config.table, config.region)
    settings = ViewSettings(config.table, config.region, interval, rescan_seconds)
    watcher = Watcher(TableReader(dynamodb, config.table, rescan_seconds=rescan_seconds, clock=clock), settings)
    if once:
        try:
            watcher.frame()
            sleep(interval)
            console.print(render(watcher.frame(), settings))
        except LeaseStoreUnavailable as exc:
            raise AwsCallFailed(f"reading table {config.table} failed: {exc}") from None
        return
    if not console.is_terminal:  # a log or a pipe: one frame after the other, no redrawing
        while True:
            console.print(watcher.draw())
            console.print()
            sleep(interval)
    with Live(watcher.draw(), console=console, auto_refresh=False) as live:
        while True:
            sleep(interval)
            live.update(watcher.draw(), refresh=True)
