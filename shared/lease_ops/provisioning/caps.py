"""Write each workload's configured cap into the table: the only writer of caps besides `set_cap` calls.

With the cap goes ``task_seconds``, the Process step's timeout: how long a task started under one of
the prefix's leases can run, which the platform app's cleanup of an aborted execution waits for.

The cap a team edits in ``<app>/.chalice/config.json`` (``LEASE_MAX_CONCURRENCY``)
takes effect when it is deployed; the Lambdas themselves never overwrite it.
"""

from __future__ import annotations

from rich.console import Console

from lease_core import LeaseError, LeaseSemaphore, UnknownPrefix
from lease_ops.aws.aws_target import AwsTarget, aws_errors
from lease_ops.config.platform_config import PlatformConfig
from lease_ops.config.workload_settings import configured_settings, process_timeout_seconds
from lease_ops.errors import AwsCallFailed


def apply_configured_caps(
    target: AwsTarget, config: PlatformConfig, console: Console, *, dry_run: bool = False
) -> None:
    console.print("[bold]caps[/bold]")
    dynamodb = target.client("dynamodb")
    # Every workload's configuration is checked before the first write: a bad one changes nothing.
    wanted = {
        workload.name: (configured_settings(workload, config.stage), process_timeout_seconds(workload, config.stage))
        for workload in config.workloads.values()
    }
    for workload in config.workloads.values():
        settings, task_seconds = wanted[workload.name]
        cap = settings.max_concurrency
        semaphore = LeaseSemaphore(dynamodb, config.table, workload.prefix)
        try:
            with aws_errors(f"setting the cap of {workload.prefix}"):
                if dry_run:
                    try:
                        current: int | None = semaphore.inspect().cap
                    except UnknownPrefix:
                        current = None
                    console.print(f"  [yellow]would[/yellow]    {workload.prefix}: cap {current or '(none)'} → {cap}")
                    continue
                change = semaphore.set_cap(cap)
                semaphore.configure_timings(task_seconds=task_seconds, lease_seconds=settings.ttl_seconds)
        except LeaseError as exc:
            raise AwsCallFailed(f"setting the cap of {workload.prefix} failed: {exc}") from None
        note = "unchanged" if change.old == cap else "set"
        console.print(
            f"  [cyan]{note:<8}[/cyan] {workload.prefix}: cap {change.old or '(none)'} → {change.new} "
            f"(its Process steps end within {task_seconds} s)"
        )
