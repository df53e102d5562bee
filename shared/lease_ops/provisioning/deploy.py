"""`make deploy`: vendor the core, sync the apps' config, `chalice deploy` each app, then write the caps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rich.console import Console

from lease_ops.aws.aws_target import AwsTarget
from lease_ops.aws.table import describe_table
from lease_ops.config.app_config import sync_all_apps
from lease_ops.config.platform_config import PlatformConfig
from lease_ops.errors import DeploymentFailed, PlatformConfigError, RuntimeMismatch
from lease_ops.provisioning.caps import apply_configured_caps
from lease_ops.provisioning.vendoring import vendor_runtime

CHALICE = Path(sys.executable).with_name("chalice")


def run_chalice(target: AwsTarget, app_dir: Path, arguments: list[str], console: Console) -> None:
    """Run chalice in an app folder against the target's region and endpoint; its output streams through."""
    console.print(f"[bold]{app_dir.name}[/bold]: chalice {' '.join(arguments)}")
    console.file.flush()
    completed = subprocess.run(
        [str(CHALICE), *arguments], cwd=app_dir, env=target.subprocess_environment(), check=False
    )
    if completed.returncode != 0:
        raise DeploymentFailed(
            f"chalice {arguments[0]} of {app_dir.name} failed (exit {completed.returncode}); see its output above"
        )


def check_lambda_runtime(config: PlatformConfig) -> None:
    """Chalice gives each Lambda the runtime of the Python that runs it (``lambda_python_version``): refuse to
    package or deploy under another one than platform.toml pins."""
    running = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if running != config.lambda_runtime:
        raise RuntimeMismatch(
            f"chalice would deploy the Lambdas on {running}, the Python it runs under, but platform.toml pins "
            f"lambda_runtime = {config.lambda_runtime!r}: recreate the environment with that Python "
            f"(make clean && make deploy PYTHON={config.lambda_runtime}), or change lambda_runtime"
        )


def preview_deploy(target: AwsTarget, config: PlatformConfig, console: Console) -> None:
    """What `deploy` would change, changing nothing: the app files it would rewrite, whether each app's stage
    exists (found by name and tag, as destroy finds it), and the caps it would write."""
    from lease_ops.provisioning.leftovers import AppLeftovers, ChaliceNames  # the finding half of destroy's lookups

    check_lambda_runtime(config)
    for path in sync_all_apps(config, partition=target.partition.name, dry_run=True):
        console.print(f"  [yellow]would[/yellow]    update {path} for stage {config.stage}, table {config.table}")
    for app in config.app_folders:
        names = ChaliceNames.of_app(config.app_dir(app), config.stage)
        existing = AppLeftovers(target, names).functions()
        console.print(f"[bold]{app}[/bold]")
        if existing:
            console.print(
                f"  [yellow]would[/yellow]    chalice deploy --stage {config.stage}: update its {len(existing)} "
                f"function(s) ({', '.join(existing)}) and create what is new"
            )
        else:
            console.print(
                f"  [yellow]would[/yellow]    chalice deploy --stage {config.stage}: create {names.base} "
                "(functions, roles, rules, API) from nothing"
            )
    if describe_table(target.client("dynamodb"), config.table) is None:
        console.print(
            f"[bold]caps[/bold]\n  [yellow]would[/yellow]    fail: table {config.table} does not exist (make bootstrap)"
        )
    else:
        try:
            apply_configured_caps(target, config, console, dry_run=True)
        except PlatformConfigError:  # a new stage: its caps are the ones deploy copies from the template stage
            console.print(
                f"  [yellow]would[/yellow]    write the caps of stage {config.stage} once deploy has written the stage"
            )


def deploy(target: AwsTarget, config: PlatformConfig, console: Console) -> None:
    check_lambda_runtime(config)
    for app in config.app_folders:
        vendor_runtime(config.app_dir(app))
    for path in sync_all_apps(config, partition=target.partition.name):
        console.print(f"updated {path} for stage {config.stage}, table {config.table}, region {config.region}")
    for app in config.app_folders:
        run_chalice(target, config.app_dir(app), ["deploy", "--stage", config.stage], console)
    apply_configured_caps(target, config, console)
